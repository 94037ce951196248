"""Feature extraction for the Lucair learned router (spec version "lucair-router-features/1").

Everything here is written to be ported to Swift *exactly*; the Swift port must produce the same
bucket indices and (to float rounding) the same values.  `Sources/LucairGateway/Resources/router/test-vectors.json` holds
worked examples (text -> active buckets -> dense features -> score) to check a port against.

Pure standard library, no numpy: the same code path is used for training and for test vectors.

------------------------------------------------------------------------------------------------
1. Which text is used
------------------------------------------------------------------------------------------------
Input: the request's `messages` (OpenAI chat format).  For each message:
  * role  = the message's "role" string (missing -> "").
  * text  = its "content": if a string, that string; if an array of parts, the "text" fields of
            the parts that are objects with a string "text" field and whose "type" is "text" or
            absent, joined with "\n"; anything else (null, images, tool calls) -> "".
USER TEXT = the texts of all messages whose role is "user", in order, joined with "\n".
Only USER TEXT feeds the n-grams and the text features; system/assistant/tool messages are only
*counted* (features `user_turns`, `assistant_turns`, `has_system`).
If USER TEXT is longer than MAX_BYTES (32768) UTF-8 bytes, keep its first 16384 bytes and its last
16384 bytes, concatenated (byte-level cut; a split multi-byte character simply yields odd bytes
>= 0x80, which are treated like any other non-ASCII byte).  This bounds the cost for long
conversations.

------------------------------------------------------------------------------------------------
2. Bytes and tokens
------------------------------------------------------------------------------------------------
B  = UTF-8 bytes of USER TEXT (after the cut above).
L  = B with ASCII 'A'..'Z' (0x41..0x5A) mapped to 'a'..'z' (+0x20).  Nothing else is changed
     (no Unicode case folding, no normalisation).
A byte is a WORD BYTE if it is in '0'..'9', 'a'..'z' (in L), or >= 0x80.
TOKENS = the maximal runs of word bytes in L, in order.
A token made only of ASCII digits is a NUMBER; in the token stream used for n-grams and lexicons
every NUMBER is replaced by the one-byte token "0".
If there are more than MAX_TOKENS (4096) tokens, keep the first 2048 and the last 2048 (for both
n-grams and token-based features; this only matters after the 32 KiB cut, i.e. never in practice
except for pathological input).

------------------------------------------------------------------------------------------------
3. Hashed n-gram features (sparse)
------------------------------------------------------------------------------------------------
Keys (byte strings):
  * unigram:  "w|" + tok
  * bigram:   "b|" + tok[i] + " " + tok[i+1]          (one 0x20 byte between)
  * plus the two boundary bigrams  "b|^ " + tok[0]  and  "b|" + tok[last] + " $"  when there is at
    least one token (they mark how the request starts and ends: "write ...", "... answer").
  * Any key that would contain the NUMBER token "0" is skipped (no "w|0", no bigram with a "0"
    on either side, no boundary bigram on a "0"); numbers only feed the dense features.  (In the
    MMLU dev data the strong model's answers to computation-heavy questions are mis-graded, so
    number n-grams learn an artefact; see README.)
hash(key) = FNV-1a 64-bit over the key's bytes:
    h = 0xcbf29ce484222325;  for each byte c: h = (h XOR c) * 0x100000001b3  (mod 2^64)
bucket(key) = h mod N_BUCKETS   (N_BUCKETS = 2^18 = 262144, so this is h & 0x3FFFF).
ACTIVE = the *set* of distinct buckets of all keys (duplicates and collisions count once).
Each active bucket has value 1/sqrt(|ACTIVE|) (so the sparse vector has unit L2 norm); if ACTIVE is
empty there is no sparse contribution.

------------------------------------------------------------------------------------------------
4. Dense hand-made features (raw values; the model standardises them with stored mean/std)
------------------------------------------------------------------------------------------------
ln = natural log.  n_b = |B| (bytes after the cut), n_t = number of tokens (after the cap).
Counts over bytes use B (original case) unless stated; lexicon counts count *token occurrences*
(not distinct) in the normalised token stream.  See DENSE_FEATURES below for the ordered list and
the exact formula of each; the order is the order of the weights in the artifact.

Lexicons (LEXICONS below) are sets of tokens; a multi-word cue is not used (unigrams only).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Sequence, Tuple

SPEC_VERSION = "lucair-router-features/1"
N_BUCKETS = 1 << 18
MAX_BYTES = 32768
MAX_TOKENS = 4096

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for c in data:
        h = ((h ^ c) * FNV_PRIME) & MASK64
    return h


# ------------------------------------------------------------------------------------------------
# Lexicons (all lowercase ASCII, matched against whole tokens after number normalisation)
# ------------------------------------------------------------------------------------------------
LEXICONS: Dict[str, Tuple[str, ...]] = {
    "math": (
        "calculate", "calculation", "compute", "solve", "solving", "solution", "equation",
        "equations", "integral", "derivative", "probability", "sum", "total", "percent",
        "percentage", "average", "mean", "median", "remainder", "divisible", "divided", "divide",
        "multiply", "multiplied", "times", "ratio", "fraction", "area", "volume", "perimeter",
        "radius", "prime", "digits", "digit", "math", "mathematical", "algebra", "geometry",
        "theorem", "proof", "prove", "triangle", "polynomial", "matrix", "vector", "variable",
        "expected", "cost", "costs", "price", "profit", "each", "per", "many", "much", "left",
        "twice", "half", "rate", "minutes", "hours", "dollars", "speed", "distance", "x", "y",
        "n", "sqrt", "frac", "log", "sin", "cos", "mod", "integer", "integers", "number",
        "numbers", "value", "graph", "function", "maximum", "minimum",
    ),
    "code": (
        "code", "coding", "program", "programming", "python", "javascript", "typescript",
        "java", "c", "cpp", "rust", "golang", "sql", "bash", "shell", "html", "css", "json",
        "regex", "api", "function", "functions", "method", "class", "def", "return", "import",
        "implement", "implementation", "algorithm", "bug", "debug", "error", "exception",
        "compile", "compiler", "script", "array", "list", "string", "int", "loop", "recursion",
        "recursive", "complexity", "query", "database", "server", "variable", "const", "var",
        "let", "print", "println", "printf", "include", "std", "null", "true", "false", "self",
        "node", "npm", "git", "docker", "linux", "unit", "test", "tests",
    ),
    "reasoning": (
        "why", "explain", "reason", "reasoning", "logic", "logical", "puzzle", "riddle", "step",
        "steps", "think", "infer", "deduce", "assume", "assuming", "suppose", "if", "then",
        "therefore", "implies", "consider", "analyze", "analyse", "compare", "evaluate",
        "justify", "argument", "true", "false", "valid", "contradiction", "hypothesis",
        "conclude", "conclusion", "because", "must", "cannot", "possible", "impossible",
        "order", "who", "which",
    ),
    "writing": (
        "write", "poem", "story", "essay", "email", "letter", "blog", "post", "song", "lyrics",
        "creative", "compose", "draft", "rewrite", "paraphrase", "tone", "style", "slogan",
        "tweet", "speech", "script", "haiku", "limerick", "joke", "funny", "persuasive",
        "catchy", "title", "headline", "describe", "description",
    ),
    "roleplay": (
        "pretend", "imagine", "act", "acting", "role", "roleplay", "character", "persona",
        "you", "your", "yourself", "assistant", "game", "play", "chat", "conversation",
    ),
    "extraction": (
        "extract", "summarize", "summarise", "summary", "list", "table", "given", "following",
        "classify", "identify", "translate", "convert", "format", "text", "paragraph",
        "sentence", "sentences", "words", "article", "document", "input", "output",
    ),
    "constraints": (
        "exactly", "only", "least", "most", "without", "every", "must", "should", "format",
        "json", "words", "sentences", "limit", "within", "strictly", "ensure", "include",
        "including", "exclude", "maximum", "minimum", "precisely",
    ),
    "knowledge": (
        "history", "historical", "law", "legal", "medical", "medicine", "disease", "patient",
        "court", "scientific", "science", "physics", "chemistry", "biology", "economics",
        "philosophy", "theory", "according", "defined", "definition", "century", "war",
    ),
}
LEXICON_SETS = {k: frozenset(v.encode() for v in vs) for k, vs in LEXICONS.items()}


# ------------------------------------------------------------------------------------------------
# Message handling
# ------------------------------------------------------------------------------------------------
def message_text(msg: Dict[str, Any]) -> str:
    c = msg.get("content") if isinstance(msg, dict) else None
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        parts = []
        for p in c:
            if isinstance(p, dict) and isinstance(p.get("text"), str) and p.get("type", "text") == "text":
                parts.append(p["text"])
        return "\n".join(parts)
    return ""


def user_bytes(messages: Sequence[Dict[str, Any]]) -> bytes:
    texts = [message_text(m) for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    b = "\n".join(texts).encode("utf-8")
    if len(b) > MAX_BYTES:
        b = b[: MAX_BYTES // 2] + b[-(MAX_BYTES // 2):]
    return b


_LOWER = bytes(c + 32 if 65 <= c <= 90 else c for c in range(256))
_WORD = [(48 <= c <= 57) or (97 <= c <= 122) or c >= 128 for c in range(256)]


def token_spans(lower: bytes) -> List[Tuple[int, int]]:
    """(start, end) of every maximal run of word bytes, after the MAX_TOKENS cap."""
    spans: List[Tuple[int, int]] = []
    start = -1
    for i, c in enumerate(lower):
        if _WORD[c]:
            if start < 0:
                start = i
        elif start >= 0:
            spans.append((start, i))
            start = -1
    if start >= 0:
        spans.append((start, len(lower)))
    if len(spans) > MAX_TOKENS:
        spans = spans[: MAX_TOKENS // 2] + spans[-(MAX_TOKENS // 2):]
    return spans


def tokenize(lower: bytes) -> Tuple[List[bytes], int]:
    """Returns (normalised tokens, number of NUMBER tokens), after the MAX_TOKENS cap."""
    toks = [lower[s:e] for s, e in token_spans(lower)]
    out = []
    nnum = 0
    for t in toks:
        if t.isdigit():  # bytes.isdigit: ASCII digits only
            nnum += 1
            out.append(b"0")
        else:
            out.append(t)
    return out, nnum


def ngram_keys(toks: List[bytes]) -> List[bytes]:
    """All n-gram keys, in order (duplicates kept; ACTIVE is the set of their buckets).
    Keys that would contain the NUMBER token "0" are not emitted: numbers reach the model only
    through the dense features (log_numbers, digit_ratio)."""
    keys = [b"w|" + t for t in toks if t != b"0"]
    keys += [b"b|" + toks[i] + b" " + toks[i + 1] for i in range(len(toks) - 1)
             if toks[i] != b"0" and toks[i + 1] != b"0"]
    if toks:
        if toks[0] != b"0":
            keys.append(b"b|^ " + toks[0])
        if toks[-1] != b"0":
            keys.append(b"b|" + toks[-1] + b" $")
    return keys


def active_buckets(toks: List[bytes]) -> List[int]:
    return sorted({fnv1a64(k) % N_BUCKETS for k in ngram_keys(toks)})


# ------------------------------------------------------------------------------------------------
# Dense features
# ------------------------------------------------------------------------------------------------
def _count_bytes(b: bytes, chars: bytes) -> int:
    return sum(b.count(bytes([c])) for c in chars)


def _mc_options(b: bytes) -> int:
    """Number of lines that look like a multiple-choice option: a '\n' followed by one ASCII
    capital 'A'..'J' followed by '.' or ')' (original case)."""
    n = 0
    for i in range(len(b) - 2):
        if b[i] == 10 and 65 <= b[i + 1] <= 74 and b[i + 2] in (46, 41):
            n += 1
    return n


DENSE_FEATURES: List[Tuple[str, str]] = [
    ("log_bytes", "ln(1 + n_b)"),
    ("log_tokens", "ln(1 + n_t)"),
    ("log_user_turns", "ln(1 + number of messages with role 'user')"),
    ("log_assistant_turns", "ln(1 + number of messages with role 'assistant')"),
    ("has_system", "1 if any message has role 'system' or 'developer' and non-empty text, else 0"),
    ("digit_ratio", "(number of bytes '0'..'9' in B) / max(1, n_b)"),
    ("log_numbers", "ln(1 + number of NUMBER tokens)"),
    ("log_math_symbols", "ln(1 + count in B of the bytes = + * / ^ < > %)"),
    ("log_latex", "ln(1 + count in B of the bytes \\ and $)"),
    ("has_code_fence", "1 if B contains the 3 bytes ``` else 0"),
    ("log_code_punct", "ln(1 + count in B of the bytes { } [ ] ; ( ) _)"),
    ("nonascii_ratio", "(number of bytes >= 0x80 in B) / max(1, n_b)"),
    ("log_qmarks", "ln(1 + count of '?' in B)"),
    ("log_newlines", "ln(1 + count of '\\n' in B)"),
    ("mc_options", "1 if the number of '\\n' + [A-J] + ('.' or ')') occurrences in B is >= 2, else 0"),
    ("mean_token_len", "(sum of byte lengths of the tokens before number normalisation) / max(1, n_t), capped at 20"),
    ("upper_ratio", "(number of bytes 'A'..'Z' in B) / max(1, number of bytes 'A'..'Z' or 'a'..'z' in B)"),
] + [
    ("lex_" + k, "ln(1 + occurrences of tokens in lexicon '%s')" % k) for k in LEXICONS
] + [
    ("lexfrac_" + k, "(occurrences of tokens in lexicon '%s') / max(1, n_t)" % k) for k in LEXICONS
]
DENSE_NAMES = [n for n, _ in DENSE_FEATURES]


def extract(messages: Sequence[Dict[str, Any]]) -> Tuple[List[int], List[float]]:
    """Returns (sorted active bucket indices, raw dense feature values in DENSE_NAMES order)."""
    b = user_bytes(messages)
    lower = b.translate(_LOWER)
    raw_toks: List[bytes]
    toks, nnum = tokenize(lower)
    n_b = len(b)
    n_t = len(toks)
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    n_user = sum(1 for r in roles if r == "user")
    n_asst = sum(1 for r in roles if r == "assistant")
    has_sys = 1.0 if any(
        isinstance(m, dict) and m.get("role") in ("system", "developer") and message_text(m) != ""
        for m in messages) else 0.0
    digits = sum(1 for c in b if 48 <= c <= 57)
    nonascii = sum(1 for c in b if c >= 128)
    upper = sum(1 for c in b if 65 <= c <= 90)
    letters = upper + sum(1 for c in b if 97 <= c <= 122)
    # token byte lengths before number normalisation: NUMBER tokens are replaced by "0", so we
    # recompute from the raw runs (same tokenisation, same cap).
    raw_len_sum = _raw_token_len_sum(lower)
    dense = [
        math.log1p(n_b),
        math.log1p(n_t),
        math.log1p(n_user),
        math.log1p(n_asst),
        has_sys,
        digits / max(1, n_b),
        math.log1p(nnum),
        math.log1p(_count_bytes(b, b"=+*/^<>%")),
        math.log1p(_count_bytes(b, b"\\$")),
        1.0 if b"```" in b else 0.0,
        math.log1p(_count_bytes(b, b"{}[];()_")),
        nonascii / max(1, n_b),
        math.log1p(b.count(b"?")),
        math.log1p(b.count(b"\n")),
        1.0 if _mc_options(b) >= 2 else 0.0,
        min(20.0, raw_len_sum / max(1, n_t)),
        upper / max(1, letters),
    ]
    lex_counts = []
    for k in LEXICONS:
        s = LEXICON_SETS[k]
        lex_counts.append(sum(1 for t in toks if t in s))
    dense += [math.log1p(c) for c in lex_counts]
    dense += [c / max(1, n_t) for c in lex_counts]
    assert len(dense) == len(DENSE_NAMES)
    return active_buckets(toks), dense


def _raw_token_len_sum(lower: bytes) -> int:
    return sum(e - s for s, e in token_spans(lower))


# ------------------------------------------------------------------------------------------------
# Scoring with a trained artifact (reference implementation of what Swift must do)
# ------------------------------------------------------------------------------------------------
def score_from_features(model: Dict[str, Any], buckets: List[int], dense: List[float]) -> float:
    """Raw score z ("needs a stronger model"; higher = stronger model needed).

    z = bias + sum_{i in ACTIVE} w_hash[i] / sqrt(|ACTIVE|)
             + sum_j w_dense[j] * (dense[j] - mean[j]) / std[j]
    """
    m = model["model"]
    z = float(m["bias"])
    if buckets:
        inv = 1.0 / math.sqrt(len(buckets))
        wh = m["hash_weights"]
        z += sum(wh[i] for i in buckets) * inv
    for v, w, mu, sd in zip(dense, m["dense_weights"], m["dense_mean"], m["dense_std"]):
        z += w * (v - mu) / sd
    return z


def score_messages(model: Dict[str, Any], messages: Sequence[Dict[str, Any]]) -> float:
    b, d = extract(messages)
    return score_from_features(model, b, d)


# ------------------------------------------------------------------------------------------------
# Calibration and tiers (reference for the Swift port)
# ------------------------------------------------------------------------------------------------
TIERS = ("baseline", "fast", "balanced", "frontier")


def p_weak_ok(model: Dict[str, Any], z: float) -> float:
    """Calibrated P(the weak model's answer is good enough) for raw score z.

    The calibration is a non-increasing step function stored as parallel arrays
    `calibration.z_start` (ascending) and `calibration.p`: p(z) = p[i] for the largest i with
    z_start[i] <= z; for z < z_start[0], p(z) = p[0]."""
    cal = model["calibration"]
    zs, ps = cal["z_start"], cal["p"]
    i = 0
    lo, hi = 0, len(zs) - 1
    while lo <= hi:  # binary search: last index with zs[i] <= z
        mid = (lo + hi) // 2
        if zs[mid] <= z:
            i = mid
            lo = mid + 1
        else:
            hi = mid - 1
    return ps[i]


def tier_for(model: Dict[str, Any], z: float) -> str:
    """First tier t in baseline, fast, balanced whose threshold satisfies z < threshold[t];
    otherwise frontier.  (Thresholds are non-decreasing along the ladder.)"""
    th = model["tiers"]["thresholds"]
    for t in TIERS[:-1]:
        if z < th[t]:
            return t
    return TIERS[-1]
