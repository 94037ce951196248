import LucairCore

/// Route: the cheapest tier whose probability of being good enough clears the quality bar, one
/// tier up when that is a close call, never below the plan's floor nor above its ceiling.
public struct RouteDecision: Sendable, Equatable {
    public var tier: Tier
    /// Why, in order: `bar_cleared` first, then any of `low_confidence_up`, `thinking`,
    /// `plan_floor`, `plan_ceiling` (and, from the gateway, `nearest_allowed_tier`, `thinking_stripped`).
    public var reasons: [String]
    /// 0…1: how far the score sits from the next tier's boundary (1 = clear call).
    public var confidence: Double
    public var bar: Double
}

public struct RoutePolicy: Sendable {
    public let model: RouterModel
    /// Below this confidence the request goes one tier up.
    public var lowConfidence = 0.5
    /// The score distance (z units) to a tier's boundary that counts as a fully confident call.
    public var margin = 0.25

    public init(model: RouterModel) { self.model = model }

    /// θ_t for the learned score alone: tier t clears `bar` iff z < θ_t (router/README.md).
    public func thresholds(bar: Double, taskPrior k: Double = 1) -> [Tier: Double] {
        var out: [Tier: Double] = [:]
        for t in Tier.allCases.dropLast() { out[t] = threshold(t, bar: bar, taskPrior: k) }
        return out
    }

    /// With prior factor k on the weak model's risk, tier t (closing a share c of the gap) is good
    /// enough with probability 1 − (1 − p)·k·(1 − c): it clears the bar iff
    /// p ≥ 1 − (1 − bar)/(k·(1 − c)). θ = the first calibration step below that (±1e9 = always/never).
    func threshold(_ t: Tier, bar: Double, taskPrior k: Double) -> Double {
        let c = model.gapClosed[t] ?? 1
        guard c < 1 else { return 1e9 }
        let required = k == 1 ? (bar - c) / (1 - c) : 1 - (1 - bar) / (k * (1 - c))
        for (i, p) in model.p.enumerated() where p < required { return i == 0 ? -1e9 : model.zStart[i] }
        return 1e9
    }

    /// The learned part's tier at `bar`, with no rules (what the test vectors pin).
    public func cheapestTier(z: Double, bar: Double) -> Tier {
        let th = thresholds(bar: bar)
        return Tier.allCases.dropLast().first { z < th[$0]! } ?? .frontier
    }

    public func route(_ a: Assessment, bar: Double, floor: Tier = .baseline, ceiling: Tier = .frontier) -> RouteDecision {
        let k = a.task.transformsGivenText ? Assessor.transformPrior : 1
        var tier = Tier.allCases.first { a.probability($0) >= bar } ?? .frontier
        var reasons = ["bar_cleared"]
        var confidence = 1.0
        if tier != .frontier {
            confidence = min(1, max(0, (threshold(tier, bar: bar, taskPrior: k) - a.score) / margin))
            if a.language == "other" { confidence *= 0.6 }  // trained on English text
            if confidence < lowConfidence, let up = tier.next {
                tier = up
                reasons.append("low_confidence_up")
            }
        }
        func atLeast(_ t: Tier, _ why: String) {
            if tier < t { tier = t; reasons.append(why) }
        }
        // Extended thinking is Frontier's work (the brief's ladder); local engines do not think.
        if a.thinking { atLeast(a.reasoning == .high ? .frontier : .fast, "thinking") }
        atLeast(floor, "plan_floor")
        if tier > ceiling { tier = ceiling; reasons.append("plan_ceiling") }
        return RouteDecision(tier: tier, reasons: reasons, confidence: confidence, bar: bar)
    }
}
