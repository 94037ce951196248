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
    /// The assessment's members, straight to bytes (it goes into every `auto` answer).
    public func write(into w: inout JSONWriter) {
        w.field("task", task.rawValue)
        w.field("reasoning", reasoning.rawValue)
        w.field("thinking", thinking)
        w.field("thinking_budget", thinkingBudget.map { .int($0) } ?? JSONValue.null)
        w.field("expected_output_tokens", expectedOutputTokens)
        w.field("prompt_tokens", promptTokens)
        w.field("language", language)
        w.field("turns", turns)
        w.field("has_tools", hasTools)
        w.field("carries_thinking", carriesThinking)
        w.field("score", Self.round(score))
        w.field("p_baseline_ok", Self.round(pWeakOK))
        w.object("tier_probabilities") { w in
            for t in Tier.allCases { w.field(t.rawValue, Self.round(probability(t))) }
        }
    }

    /// Six decimals: enough to compare, short enough for a header.
    public static func round(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }
}

extension RouteDecision {
    public func write(into w: inout JSONWriter) {
        w.field("tier", tier.rawValue)
        w.field("reasons", JSONValue.array(reasons.map { .string($0) }))
        w.field("confidence", Assessment.round(confidence))
        w.field("quality_bar", bar)
    }
}
