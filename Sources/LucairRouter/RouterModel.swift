import LucairCore
import LucairWire

/// The learned router's artifact (`router/model/router-v1.json`, written by `router/train.py`):
/// hashed n-gram and dense weights, the calibration from score to P(the weakest tier is good
/// enough), and how far each tier closes the weak→strong gap. Decoded from bytes; reading the file
/// is the caller's business (this target does no I/O).
public struct RouterModel: Sendable {
    public static let specVersion = "lucair-router-features/1"

    public let version: String
    public let bias: Double
    public let hashWeights: [Double]
    public let denseWeights: [Double]
    public let denseMean: [Double]
    public let denseStd: [Double]
    /// Calibration step function: p(z) = p[i] for the largest i with zStart[i] ≤ z (p[0] below).
    public let zStart: [Double]
    public let p: [Double]
    /// The share of the weak→strong gap each tier closes (baseline 0 … frontier 1).
    public let gapClosed: [Tier: Double]
    /// Lexicons in feature order (math, code, reasoning, writing, roleplay, extraction, constraints, knowledge).
    let lexicons: Lexicons

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(json: JSONValue) throws(Invalid) {
        func fail(_ s: String) -> Invalid { Invalid(description: "router model: \(s)") }
        func numbers(_ v: JSONValue?, _ name: String) throws(Invalid) -> [Double] {
            guard let a = v?.arrayValue else { throw fail("'\(name)' must be an array of numbers") }
            var out: [Double] = []
            out.reserveCapacity(a.count)
            for x in a {
                guard let d = x.doubleValue else { throw fail("'\(name)' must be an array of numbers") }
                out.append(d)
            }
            return out
        }
        guard json["format"]?.stringValue == "lucair-router" else { throw fail("not a lucair-router artifact (format)") }
        guard let spec = json["feature_spec"], spec["version"]?.stringValue == Self.specVersion else {
            throw fail("feature spec '\(json["feature_spec"]?["version"]?.stringValue ?? "?")' is not \(Self.specVersion); this build cannot compute its features")
        }
        guard spec["n_buckets"]?.intValue == Features.buckets else { throw fail("n_buckets must be \(Features.buckets)") }
        version = json["version"]?.stringValue ?? "?"
        let m = json["model"]
        guard let b = m?["bias"]?.doubleValue else { throw fail("model.bias is missing") }
        bias = b
        hashWeights = try numbers(m?["hash_weights"], "model.hash_weights")
        denseWeights = try numbers(m?["dense_weights"], "model.dense_weights")
        denseMean = try numbers(m?["dense_mean"], "model.dense_mean")
        denseStd = try numbers(m?["dense_std"], "model.dense_std")
        guard hashWeights.count == Features.buckets else { throw fail("model.hash_weights must have \(Features.buckets) entries") }
        guard [denseWeights.count, denseMean.count, denseStd.count].allSatisfy({ $0 == Features.denseCount }) else {
            throw fail("dense weights, means and stds must have \(Features.denseCount) entries")
        }
        zStart = try numbers(json["calibration"]?["z_start"], "calibration.z_start")
        p = try numbers(json["calibration"]?["p"], "calibration.p")
        guard !zStart.isEmpty, zStart.count == p.count else { throw fail("calibration.z_start and calibration.p must be non-empty and of equal length") }
        var gap: [Tier: Double] = [:]
        for t in Tier.allCases {
            guard let c = json["tiers"]?["gap_closed"]?[t.rawValue]?.doubleValue else { throw fail("tiers.gap_closed.\(t.rawValue) is missing") }
            gap[t] = c
        }
        gapClosed = gap
        var lex: [[String]] = []
        for name in Lexicons.order {
            guard let words = spec["lexicons"]?[name]?.arrayValue?.compactMap(\.stringValue) else { throw fail("feature_spec.lexicons.\(name) is missing") }
            lex.append(words)
        }
        lexicons = Lexicons(lex)
    }

    /// The raw score z: higher means a stronger model is needed.
    public func score(_ f: Features) -> Double {
        var z = bias
        if f.activeCount > 0 { z += f.hashWeightSum(hashWeights) / Double(f.activeCount).squareRoot() }
        for j in 0..<Features.denseCount {
            z += denseWeights[j] * (f.dense[j] - denseMean[j]) / denseStd[j]
        }
        return z
    }

    /// Calibrated P(the weak model's answer is good enough) at score z.
    public func pWeakOK(_ z: Double) -> Double {
        var lo = 0, hi = zStart.count - 1, i = 0
        while lo <= hi {  // the last index with zStart[i] ≤ z
            let mid = (lo + hi) / 2
            if zStart[mid] <= z { i = mid; lo = mid + 1 } else { hi = mid - 1 }
        }
        return p[i]
    }

    /// P(tier t's answer is good enough) = p + (1 − p)·c_t: a tier closing a share c_t of the gap
    /// handles what the weak model handles plus that share of the rest (router/README.md).
    public func pTierOK(_ pWeak: Double, _ t: Tier) -> Double {
        pWeak + (1 - pWeak) * (gapClosed[t] ?? 1)
    }
}
