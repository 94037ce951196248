import LucairCore
import LucairWire
import Testing

@testable import LucairRouter

@Suite struct RoutePolicyTests {
    let router = AutoRouter(model: Artifact.model)

    func request(_ text: String, system: String? = nil, extra: JSONObject = [:]) throws -> ChatRequest {
        var messages: [JSONValue] = []
        if let system { messages.append(["role": "system", "content": .string(system)]) }
        messages.append(["role": "user", "content": .string(text)])
        var body: JSONObject = ["model": "auto", "messages": .array(messages)]
        for (k, v) in extra { body[k] = v }
        return try ChatRequest.parse(.object(body))
    }

    static let prompts = [
        "hello", "What is the capital of France?", "Write a haiku about autumn.",
        "Summarize this article: The council met on Tuesday to discuss the budget for parks and roads.",
        "Translate to French: I would like a coffee, please.",
        "Write a Python function that checks whether a string is a palindrome.",
        "Janet has 3 apples. She buys 5 more and gives 2 away. How many apples does she have?",
        "Prove that there are infinitely many primes, step by step, and explain why each step holds.",
        "A train leaves at 3pm at 60 mph; another leaves at 4pm at 80 mph. When does the second catch up?",
    ]

    @Test(arguments: Tier.allCases)
    func thePlanCeilingIsNeverExceeded(_ ceiling: Tier) throws {
        for text in Self.prompts {
            for bar in stride(from: 0.0, through: 1.0, by: 0.05) {
                let (_, d) = router.route(try request(text), bar: bar, ceiling: ceiling)
                #expect(d.tier <= ceiling, "\(text) at bar \(bar)")
            }
        }
        // The hardest prompt at the strictest bar wants Frontier; a lower ceiling clamps it and says so.
        let (_, d) = router.route(try request(Self.prompts.last!), bar: 0.99, ceiling: ceiling)
        #expect(d.tier == ceiling)
        #expect(d.reasons.contains("plan_ceiling") == (ceiling != .frontier))
    }

    @Test func neverBelowThePlanFloorAndNeverDownWithAHigherBar() throws {
        for text in Self.prompts {
            var previous = Tier.baseline
            for bar in stride(from: 0.0, through: 1.0, by: 0.05) {
                let (_, d) = router.route(try request(text), bar: bar, floor: .fast)
                #expect(d.tier >= .fast)
                #expect(d.tier >= previous, "a stricter bar must never route lower: \(text)")
                previous = d.tier
            }
        }
    }

    @Test func aCloseCallGoesOneTierUp() throws {
        // An assessment whose score sits just below a calibration step, with the bar between the
        // two steps' probabilities: Baseline clears it, but only just.
        let m = Artifact.model
        let j = try #require(m.zStart.indices.dropLast().first { m.zStart[$0 + 1] - m.zStart[$0] > 0.2 && m.p[$0] > m.p[$0 + 1] })
        var a = router.assessor.assess(try request("Explain how vaccines train the immune system."))
        a.task = .chat
        a.score = m.zStart[j + 1] - 0.05
        a.pWeakOK = m.p[j]
        a.tierProbabilities = Tier.allCases.map { m.pTierOK(m.p[j], $0) }
        let bar = (m.p[j] + m.p[j + 1]) / 2
        var policy = router.policy
        policy.lowConfidence = 0  // never escalate: the plain cheapest tier
        let plain = policy.route(a, bar: bar)
        policy.lowConfidence = 0.5
        let cautious = policy.route(a, bar: bar)
        #expect(plain.tier == .baseline && plain.reasons == ["bar_cleared"])
        #expect(abs(cautious.confidence - 0.05 / policy.margin) < 1e-9)
        #expect(cautious.tier == .fast && cautious.reasons == ["bar_cleared", "low_confidence_up"])
        // A clear call stays put.
        let clear = policy.route(a, bar: 0.01)
        #expect(clear.tier == .baseline && clear.confidence == 1)
    }

    @Test func tasksAreRecognised() throws {
        let cases: [(String, Assessment.Task)] = [
            ("Summarize this article: the council met on Tuesday.", .summarize),
            ("Résume ce contrat, s'il te plaît.", .summarize),
            ("Translate to German: good morning", .translate),
            ("Classify the sentiment of this review: great phone, bad battery.", .extract),
            ("```python\ndef f(x): return x\n```\nWhy does this fail?", .code),
            ("Solve for x: 3x + 5 = 20. What is x^2 + 2x?", .math),
            ("Write a poem about the sea.", .write),
            ("hello there", .chat),
        ]
        for (text, task) in cases {
            #expect(router.assessor.assess(try request(text)).task == task, "\(text)")
        }
        let schema = try request("Alice met Bob.", extra: ["response_format": ["type": "json_schema", "json_schema": ["name": "people", "schema": ["type": "object"]]]])
        #expect(router.assessor.assess(schema).task == .extract)
    }

    @Test func harderWorkScoresHigherAndThinksWhenAsked() throws {
        let easy = router.assessor.assess(try request("Janet has 3 apples and buys 2 more. How many?"))
        let hard = router.assessor.assess(try request("A tank fills at 12 liters per minute and drains at 4 liters per minute through one pipe and 3 through another. It starts 1/4 full of its 960 liter capacity. After 20 minutes the first drain closes. How many minutes in total until it is full? Explain each step."))
        #expect(hard.score > easy.score)
        let effort = router.assessor.assess(try request("Plan a database migration.", extra: ["reasoning_effort": "high"]))
        #expect(effort.reasoning == .high)
        let (_, d) = router.route(try request("Prove that sqrt(2) is irrational. Show every step.", extra: ["reasoning_effort": "high"]), bar: 0.5)
        #expect(d.tier >= .fast)
        #expect(router.assessor.assess(try request("hi", extra: ["max_tokens": 7])).expectedOutputTokens == 7)
    }

    @Test func thinkingBlocksAreStrippedAndThinkingEndsMidToolLoop() throws {
        let body: JSONValue = [
            "model": "auto", "reasoning_effort": "high",
            "messages": [
                ["role": "user", "content": "What's the weather in Paris?"],
                ["role": "assistant", "content": nil,
                 "thinking_blocks": [["type": "thinking", "thinking": "call the tool", "signature": "sig-opus"]],
                 "tool_calls": [["id": "t1", "type": "function", "function": ["name": "weather", "arguments": "{}"]]]],
                ["role": "tool", "tool_call_id": "t1", "content": "18C"],
            ],
        ]
        let r = try ChatRequest.parse(body)
        #expect(router.assessor.assess(r).carriesThinking)
        let s = r.strippingThinkingBlocks()
        #expect(!s.body.description.contains("thinking_blocks") && s.messages.allSatisfy { $0["thinking_blocks"] == nil })
        #expect(s.body["messages"]?.arrayValue?.count == 3)
        #expect(s.reasoningEffort == nil && s.body["reasoning_effort"] == nil)
        #expect(!router.assessor.assess(s).carriesThinking)
        // Outside a tool loop the blocks go and thinking stays on.
        let later = try ChatRequest.parse([
            "model": "auto", "reasoning_effort": "high",
            "messages": [
                ["role": "user", "content": "Hi"],
                ["role": "assistant", "content": "Hello", "thinking_blocks": [["type": "thinking", "thinking": "greet", "signature": "s"]]],
                ["role": "user", "content": "Prove Fermat's little theorem."],
            ],
        ])
        let kept = later.strippingThinkingBlocks()
        #expect(kept.reasoningEffort == "high" && kept.messages[1]["thinking_blocks"] == nil)
    }

    @Test func metricsMatchTheReferenceDefinitions() {
        // A perfect ranking of a 0/1 outcome recovers the gap with as few strong calls as possible.
        let weak: [Double] = [1, 1, 1, 0, 0, 1, 1, 0, 1, 1]
        let strong: [Double] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
        let oracle = RouterMetrics.oracle(weak: weak, strong: strong)
        let random = RouterMetrics.random(weak: weak, strong: strong)
        let inverse = RouterMetrics.evaluate(scores: zip(strong, weak).map { $1 - $0 }, weak: weak, strong: strong)
        #expect(oracle.apgr > random.apgr && random.apgr > inverse.apgr)
        #expect(abs(random.apgr - 0.5) < 0.05)
        #expect(oracle.cpt50 < 0.35 && inverse.cpt50 > 0.65)
        #expect(RouterMetrics.quantile([1, 2, 3, 4], 0.5) == 2.5)
    }
}
