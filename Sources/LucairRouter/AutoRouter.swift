import LucairCore
import LucairWire

/// What `model: "auto"` runs: Assess, then Route. Pure; built once from the artifact.
public struct AutoRouter: Sendable {
    public let assessor: Assessor
    public var policy: RoutePolicy
    public var version: String { assessor.model.version }

    public init(model: RouterModel, lowConfidence: Double = 0.5) {
        assessor = Assessor(model: model)
        policy = RoutePolicy(model: model)
        policy.lowConfidence = lowConfidence
    }

    public func route(_ r: ChatRequest, bar: Double, floor: Tier = .baseline, ceiling: Tier = .frontier) -> (Assessment, RouteDecision) {
        let a = assessor.assess(r)
        return (a, policy.route(a, bar: bar, floor: floor, ceiling: ceiling))
    }
}

extension Assessment {
    public var json: JSONValue {
        var probabilities: [String: JSONValue] = [:]
        for t in Tier.allCases { probabilities[t.rawValue] = .double(Self.round(probability(t))) }
        return [
            "task": .string(task.rawValue), "reasoning": .string(reasoning.rawValue), "thinking": .bool(thinking),
            "thinking_budget": thinkingBudget.map { .int($0) } ?? .null,
            "expected_output_tokens": .int(expectedOutputTokens), "prompt_tokens": .int(promptTokens),
            "language": .string(language), "turns": .int(turns), "has_tools": .bool(hasTools),
            "carries_thinking": .bool(carriesThinking),
            "score": .double(Self.round(score)), "p_baseline_ok": .double(Self.round(pWeakOK)),
            "tier_probabilities": .object(probabilities),
        ]
    }

    /// Six decimals: enough to compare, short enough for a header.
    public static func round(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }
}

extension RouteDecision {
    public var json: JSONValue {
        ["tier": .string(tier.rawValue), "reasons": .array(reasons.map { .string($0) }),
         "confidence": .double(Assessment.round(confidence)), "quality_bar": .double(bar)]
    }
}
