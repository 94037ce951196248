import LucairCore

/// Router metrics exactly as `../shared/data/routing/README.md` defines them (RouteLLM's): the
/// quality curve over 11 score quantiles, APGR by the trapezoid rule, CPT by linear interpolation.
/// Same definitions as `router/metrics.py`; `lucair router eval` prints them.
public enum RouterMetrics {
    public struct Result: Sendable, Equatable {
        public var n: Int
        public var apgr: Double
        public var cpt50: Double
        public var cpt80: Double
    }

    /// Scores (higher = needs the strong model) against each row's weak and strong quality.
    public static func evaluate(scores: [Double], weak: [Double], strong: [Double], bins: Int = 10) -> Result {
        precondition(scores.count == weak.count && weak.count == strong.count && !scores.isEmpty)
        let n = Double(scores.count)
        let wm = weak.reduce(0, +) / n, sm = strong.reduce(0, +) / n
        let sorted = scores.sorted()
        var points = [(0.0, wm), (1.0, sm)]
        for i in 0...bins {
            let t = quantile(sorted, Double(i) / Double(bins))
            var strongCalls = 0, quality = 0.0
            for j in scores.indices {
                if scores[j] >= t { strongCalls += 1; quality += strong[j] } else { quality += weak[j] }
            }
            points.append((Double(strongCalls) / n, quality / n))
        }
        points.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var area = 0.0
        for k in 1..<points.count { area += (points[k].0 - points[k - 1].0) * (points[k].1 + points[k - 1].1) / 2 }
        func cpt(_ frac: Double) -> Double {
            let target = wm + frac * (sm - wm)
            var prev = points[0]
            if prev.1 >= target { return prev.0 }
            for p in points.dropFirst() {
                if p.1 >= target { return p.1 == prev.1 ? p.0 : prev.0 + (target - prev.1) * (p.0 - prev.0) / (p.1 - prev.1) }
                prev = p
            }
            return 1
        }
        return Result(n: scores.count, apgr: (area - wm) / (sm - wm), cpt50: cpt(0.5), cpt80: cpt(0.8))
    }

    /// numpy's default ("linear") quantile of sorted values.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    /// The mean over `draws` routers with uniform random scores (a fixed seed: reproducible).
    public static func random(weak: [Double], strong: [Double], draws: Int = 200) -> Result {
        var rng = SplitMix64(seed: 0)  // seeded, so the random baseline is the same on every run
        var acc = Result(n: weak.count, apgr: 0, cpt50: 0, cpt80: 0)
        for _ in 0..<draws {
            let r = evaluate(scores: weak.map { _ in Double(rng.next() >> 11) / Double(1 << 53) }, weak: weak, strong: strong)
            acc.apgr += r.apgr / Double(draws); acc.cpt50 += r.cpt50 / Double(draws); acc.cpt80 += r.cpt80 / Double(draws)
        }
        return acc
    }

    /// The router that knows the outcome: score = strong − weak.
    public static func oracle(weak: [Double], strong: [Double]) -> Result {
        evaluate(scores: zip(strong, weak).map { $0 - $1 }, weak: weak, strong: strong)
    }
}
