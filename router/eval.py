#!/usr/bin/env python3
"""Score a routing JSONL file with the router artifact and print the metrics.

  python3 router/eval.py DATA.jsonl [DATA2.jsonl ...]
        Scores every row from its `messages` only (the outcome fields are read only to compute
        the metrics afterwards), prints APGR / CPT(50%) / CPT(80%) for the router and the
        random / oracle baselines, and the share of each tier.
  python3 router/eval.py DATA.jsonl --scores SCORES.jsonl
        Uses the scores of another implementation ({"id": ..., "score": ...} per line, e.g. the
        Swift port) instead, and reports how far they are from this reference implementation.
  python3 router/eval.py DATA.jsonl --write-scores OUT.jsonl
        Also writes {"id", "score", "p_weak_ok", "tier"} per row.
  python3 router/eval.py --check-vectors
        Recomputes Sources/LucairGateway/Resources/router/test-vectors.json with features.py and checks it matches.

Rows with "contaminated": true are scored but left out of the metrics.  Rows without
weak/strong outcomes are scored; metrics need both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import features as F  # noqa: E402
import metrics as M  # noqa: E402

DEFAULT_MODEL = os.path.join(HERE, "..", "Sources/LucairGateway/Resources/router", "router-v1.json")


def check_vectors(model, path) -> int:
    tv = json.load(open(path, encoding="utf-8"))
    bad = 0
    for h in tv["hashes"]:
        got = "%016x" % F.fnv1a64(h["key"].encode())
        if got != h["fnv1a64_hex"] or F.fnv1a64(h["key"].encode()) % F.N_BUCKETS != h["bucket"]:
            print("hash mismatch for %r" % h["key"])
            bad += 1
    for v in tv["vectors"]:
        b, d = F.extract(v["messages"])
        z = F.score_from_features(model, b, d)
        ok = (b == v["active_buckets"] and all(abs(x - y) <= 1e-9 for x, y in zip(d, v["dense"]))
              and abs(z - v["z"]) <= 1e-6 and F.tier_for(model, z) == v["tier"])
        print("%-18s buckets=%4d z=%+.6f tier=%-8s %s" % (v["name"], len(b), z, F.tier_for(model, z), "ok" if ok else "MISMATCH"))
        bad += 0 if ok else 1
    print("%d passed, %d failed" % (len(tv["vectors"]) + len(tv["hashes"]) - bad, bad))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="*")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--scores", help="JSONL of {id, score} from another implementation")
    ap.add_argument("--write-scores", help="write {id, score, p_weak_ok, tier} JSONL here")
    ap.add_argument("--check-vectors", action="store_true")
    args = ap.parse_args()
    model = json.load(open(args.model, encoding="utf-8"))
    if args.check_vectors:
        sys.exit(check_vectors(model, os.path.join(os.path.dirname(args.model), "test-vectors.json")))
    if not args.data:
        ap.error("give at least one data file (or --check-vectors)")

    ext = None
    if args.scores:
        ext = {}
        for line in open(args.scores, encoding="utf-8"):
            if line.strip():
                r = json.loads(line)
                ext[str(r["id"])] = float(r["score"])
    out = open(args.write_scores, "w", encoding="utf-8") if args.write_scores else None

    print("model %s (%s)" % (model["version"], model["feature_spec"]["version"]))
    for path in args.data:
        rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        ref = []
        for r in rows:
            # the router sees the messages and nothing else
            z = F.score_messages(model, r["messages"])
            ref.append(z)
            if out:
                out.write(json.dumps({"id": r.get("id"), "score": z, "p_weak_ok": F.p_weak_ok(model, z),
                                      "tier": F.tier_for(model, z)}) + "\n")
        ref = np.array(ref)
        scores = ref
        name = os.path.basename(path)
        if name in {d.get("file") for d in model.get("training_data", [])}:
            print("WARNING: %s is a training file of %s: these are in-sample numbers. The honest "
                  "(out-of-fold) numbers are in router/cv-report.md." % (name, model["version"]))
        if ext is not None:
            missing = [r.get("id") for r in rows if str(r.get("id")) not in ext]
            if missing:
                print("%s: %d rows have no external score (e.g. %s)" % (name, len(missing), missing[:3]))
                sys.exit(2)
            scores = np.array([ext[str(r.get("id"))] for r in rows])
            diff = np.abs(scores - ref)
            print("%s: external scores vs reference: max |diff| %.3g, mean %.3g, ranking identical: %s"
                  % (name, diff.max(), diff.mean(), bool((np.argsort(scores, kind="stable") == np.argsort(ref, kind="stable")).all())))
        tiers = [F.tier_for(model, z) for z in scores]
        print("%s: %d rows; tiers: %s" % (name, len(rows), ", ".join(
            "%s %.1f%%" % (t, 100.0 * tiers.count(t) / max(1, len(tiers))) for t in F.TIERS)))
        keep = [i for i, r in enumerate(rows) if not r.get("contaminated", False)
                and isinstance(r.get("weak"), dict) and isinstance(r.get("strong"), dict)]
        if not keep:
            print("  (no outcome fields: no metrics)")
            continue
        w = np.array([rows[i]["weak"]["score"] for i in keep], dtype=float)
        s = np.array([rows[i]["strong"]["score"] for i in keep], dtype=float)
        sc = scores[keep]
        print("  %d rows in metrics (%d contaminated/without outcomes left out); weak mean %.4f, strong mean %.4f"
              % (len(keep), len(rows) - len(keep), w.mean(), s.mean()))
        print("  | router | CPT(50%) | CPT(80%) | APGR |")
        print("  |---|---|---|---|")
        print("  " + M.fmt_row("router %s" % model["version"], M.evaluate(sc, w, s)))
        print("  " + M.fmt_row("random (mean of 200)", M.random_baseline(w, s)))
        print("  " + M.fmt_row("oracle (strong - weak)", M.oracle_baseline(w, s)))
    if out:
        out.close()


if __name__ == "__main__":
    main()
