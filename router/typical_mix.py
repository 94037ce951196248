"""Writes router/typical-mix.jsonl: a typical mixed workload for the tier-mix report
(`lucair router mix --data router/typical-mix.jsonl`, docs/router.md).

Request shares follow what people ask assistants, after the public usage study "How People Use
ChatGPT" (Chatterji et al., NBER w34255, 2025: roughly practical guidance 29%, seeking information
24%, writing 24% - two thirds of it editing, summarising or translating the user's own text -,
technical help a few %): 30% grounded transforms of a given document (summarise, extract,
translate), 25% knowledge questions, 25% open advice / writing / chat, 10% math, 5% code,
5% multi-step reasoning.

Public prompts only, and no outcome fields: documents are the MMLU history passages (hendrycks/test,
MIT), knowledge and math questions are MMLU's (MIT), open prompts are AlpacaEval's (Apache-2.0
code repo; see router/README.md for the prompts' licence note), math / code / reasoning also from
our hand-written probes (router/probes). Deterministic (seed 0).
"""
from __future__ import annotations

import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("LUCAIR_ROUTING_DATA", os.path.join(HERE, "..", "..", "shared", "data", "routing"))


def load(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def text(row):
    return row["messages"][0]["content"]


def main():
    rng = random.Random(0)
    mmlu = [r for r in load("mmlu.jsonl") if not r.get("contaminated")]
    alpaca = load("alpaca_eval.jsonl")
    with open(os.path.join(HERE, "probes", "probes.jsonl"), encoding="utf-8") as f:
        probes = [json.loads(l) for l in f if l.strip()]
    out = []

    def add(kind, content):
        out.append({"id": "%s-%03d" % (kind, sum(1 for o in out if o["kind"] == kind)), "kind": kind,
                    "messages": [{"role": "user", "content": content}]})

    # Grounded transforms: a document from an MMLU history passage plus an instruction.
    passages = sorted({text(r).split("\n", 1)[1].rsplit("\n\n", 1)[0] for r in mmlu
                       if "history" in r["source"] and text(r).startswith("This question refers to the following information.")})
    passages = [p for p in passages if len(p) > 400]
    rng.shuffle(passages)
    for i, p in enumerate(passages[:120]):
        if i < 50:
            add("summarize", "Summarize the following passage in three sentences.\n\n" + p)
        elif i < 85:
            add("extract", "Extract every person, place and date mentioned in the passage below as a JSON list.\n\n" + p)
        else:
            add("translate", "Translate the following passage into French.\n\n" + p)
    # Knowledge questions (not math).
    knowledge = [r for r in mmlu if "math" not in r["source"] and "history" not in r["source"]]
    for r in rng.sample(knowledge, 100):
        add("knowledge", text(r))
    # Open advice, writing and chat.
    coding_words = ("code", "python", "function", "program", "javascript", "sql")
    open_prompts = [r for r in alpaca if not any(w in text(r).lower() for w in coding_words)]
    for r in rng.sample(open_prompts, 100):
        add("open", text(r))
    # Math: grade-school style probes and MMLU mathematics questions.
    for p in probes:
        if p["category"] in ("gsm_easy", "gsm_hard", "math"):
            add("math", text(p))
    maths = [r for r in mmlu if r["source"] in ("mmlu/elementary_mathematics", "mmlu/high_school_mathematics")]
    for r in rng.sample(maths, 40 - sum(1 for o in out if o["kind"] == "math")):
        add("math", text(r))
    # Code: probes and AlpacaEval's coding prompts.
    for p in probes:
        if p["category"] == "coding":
            add("code", text(p))
    coding = [r for r in alpaca if any(w in text(r).lower() for w in coding_words)]
    for r in rng.sample(coding, 20 - sum(1 for o in out if o["kind"] == "code")):
        add("code", text(r))
    # Multi-step reasoning: probes (and STEM probes to make up the share).
    for p in [p for p in probes if p["category"] in ("reasoning", "stem")][:20]:
        add("reasoning", text(p))

    path = os.path.join(HERE, "typical-mix.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for o in out:
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    counts = {}
    for o in out:
        counts[o["kind"]] = counts.get(o["kind"], 0) + 1
    print("%d requests -> %s: %s" % (len(out), path, counts))


if __name__ == "__main__":
    main()
