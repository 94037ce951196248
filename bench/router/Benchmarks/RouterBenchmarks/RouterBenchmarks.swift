import Benchmark
import Foundation
import LucairRouter
import LucairWire

/// Assess + Route, as `model: "auto"` runs them on the request path, for a 200-token prompt and an
/// 8k-token conversation. Budgets (issue 4): p99 ≤ 100 µs and ≤ 1 ms on one core.
let benchmarks: @Sendable () -> Void = {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../../Sources/LucairGateway/Resources/router/router-v1.json").standardized
    let model = try! RouterModel(json: JSON.parse(bytes: Array(try! Data(contentsOf: dir))))
    let router = AutoRouter(model: model)

    // Deterministic English-like text with a realistic spread of words, numbers and punctuation.
    let words = ("the council met on tuesday to discuss budget for parks roads and library members argued about "
        + "whether taxes should rise solve equation function return value explain why each step holds write a "
        + "short summary translate into french compare evaluate the following data python code list table").split(separator: " ")
    func text(tokens: Int, seed: Int) -> String {
        var out: [Substring] = []
        var x = UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15
        for i in 0..<tokens {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out.append(i % 17 == 16 ? Substring(String(x % 1000)) + "." : words[Int(x >> 33) % words.count])
        }
        return out.joined(separator: " ")
    }
    func request(turns: Int, tokensPerTurn: Int) -> ChatRequest {
        var messages: [JSONValue] = [["role": "system", "content": "You are a careful assistant."]]
        for t in 0..<turns {
            messages.append(["role": t % 2 == 0 ? "user" : "assistant", "content": .string(text(tokens: tokensPerTurn, seed: t))])
        }
        return try! ChatRequest.parse(["model": "auto", "messages": .array(messages)])
    }
    let short = request(turns: 1, tokensPerTurn: 200)
    let long = request(turns: 16, tokensPerTurn: 500)  // 8,000 tokens, half of them the user's
    let allUser = request(turns: 1, tokensPerTurn: 8000)  // worst case: every token is read

    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], timeUnits: .microseconds,
        maxDuration: .seconds(5), maxIterations: 100_000)

    Benchmark("assess+route 200-token prompt") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(router.route(short, bar: 0.65)) }
    }
    Benchmark("assess+route 8k-token conversation") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(router.route(long, bar: 0.65)) }
    }
    Benchmark("assess+route 8k-token single user message") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(router.route(allUser, bar: 0.65)) }
    }
}
