"""Router metrics exactly as /work/shared/data/routing/README.md defines them (RouteLLM style).

score: higher = "needs the strong model".  Rows with contaminated=true must be removed by the
caller before calling these functions.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

N_BINS = 10


def quality_curve(scores: Sequence[float], weak: Sequence[float], strong: Sequence[float],
                  n_bins: int = N_BINS) -> List[Tuple[float, float]]:
    """Points (share of strong calls, mean quality), sorted by share.

    Thresholds: the 11 quantiles q(0), q(0.1), ..., q(1) of the scores (numpy's default linear
    interpolation).  At each threshold the prompts with score >= threshold go to the strong model.
    The all-weak (0, mean weak) and all-strong (1, mean strong) end points are added.
    """
    s = np.asarray(scores, dtype=float)
    w = np.asarray(weak, dtype=float)
    g = np.asarray(strong, dtype=float)
    n = len(s)
    pts = [(0.0, float(w.mean())), (1.0, float(g.mean()))]
    for t in np.quantile(s, np.linspace(0.0, 1.0, n_bins + 1)):
        m = s >= t
        pts.append((float(m.sum()) / n, float(np.where(m, g, w).mean())))
    pts.sort(key=lambda p: (p[0], p[1]))
    return pts


def apgr(pts: List[Tuple[float, float]], weak_mean: float, strong_mean: float) -> float:
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return (area - weak_mean) / (strong_mean - weak_mean)


def cpt(pts: List[Tuple[float, float]], weak_mean: float, strong_mean: float, frac: float) -> float:
    """Share of strong calls at which quality first reaches weak + frac*(strong-weak),
    linearly interpolated between consecutive points of the curve (sorted by share)."""
    target = weak_mean + frac * (strong_mean - weak_mean)
    prev = pts[0]
    if prev[1] >= target:
        return prev[0]
    for p in pts[1:]:
        if p[1] >= target:
            if p[1] == prev[1]:
                return p[0]
            return prev[0] + (target - prev[1]) * (p[0] - prev[0]) / (p[1] - prev[1])
        prev = p
    return 1.0


def evaluate(scores, weak, strong) -> Dict[str, float]:
    w = np.asarray(weak, dtype=float)
    g = np.asarray(strong, dtype=float)
    pts = quality_curve(scores, w, g)
    wm, gm = float(w.mean()), float(g.mean())
    return {
        "n": len(w),
        "apgr": apgr(pts, wm, gm),
        "cpt50": cpt(pts, wm, gm, 0.5),
        "cpt80": cpt(pts, wm, gm, 0.8),
    }


def random_baseline(weak, strong, n_draws: int = 200, seed: int = 0) -> Dict[str, float]:
    """Mean of the metrics over n_draws routers with i.i.d. uniform random scores."""
    rng = np.random.default_rng(seed)
    acc = {"apgr": 0.0, "cpt50": 0.0, "cpt80": 0.0}
    for _ in range(n_draws):
        r = evaluate(rng.random(len(weak)), weak, strong)
        for k in acc:
            acc[k] += r[k] / n_draws
    acc["n"] = len(weak)
    return acc


def oracle_baseline(weak, strong) -> Dict[str, float]:
    """Router that knows the outcome: score = strong - weak (then the same binning)."""
    w = np.asarray(weak, dtype=float)
    g = np.asarray(strong, dtype=float)
    return evaluate(g - w, w, g)


def fmt_row(name: str, r: Dict[str, float]) -> str:
    return "| %s | %.2f%% | %.2f%% | %.3f |" % (name, 100 * r["cpt50"], 100 * r["cpt80"], r["apgr"])
