import HTTPTypes
import Hummingbird
import Logging
import LucairWire
import NIOCore

/// Both fakes on one port: OpenAI-compatible under /v1/chat/completions and /v1/embeddings,
/// Anthropic under /v1/messages; llama.cpp's /metrics and /slots; /_fake/stats, /_fake/reset and
/// /_fake/engine for tests.
public enum FakeServer {
    public static func build(host: String = "127.0.0.1", port: Int, defaults: FakeScript = FakeScript(), stats: FakeStats = FakeStats(),
                             logger: Logger? = nil, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        let openAI = FakeOpenAI(defaults: defaults, stats: stats)
        let anthropic = FakeAnthropic(defaults: defaults, stats: stats)
        @Sendable func body(_ request: Request) async throws -> JSONValue {
            let buffer = try await request.body.collect(upTo: 64 << 20)
            return (try? JSON.parse(bytes: buffer.readableBytesView)) ?? nil
        }
        router.post("/v1/chat/completions") { request, _ in try await openAI.chat(try await body(request)) }
        router.post("/v1/embeddings") { request, _ in openAI.embeddings(try await body(request)) }
        router.post("/v1/messages") { request, _ in try await anthropic.messages(try await body(request), headers: request.headers) }
        router.get("/health") { _, _ in "ok" }
        router.get("/v1/models") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: (["object": "list", "data": [["id": "fake", "object": "model", "created": 0, "owned_by": "fake"]]] as JSONValue).serialized())))
        }
        router.get("/_fake/stats") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: stats.json.serialized())))
        }
        router.get("/metrics") { _, _ in stats.engineMetrics }
        router.get("/slots") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: stats.engineSlotsJSON.serialized())))
        }
        // {"slots": N, "deferred": M}: what /slots and /metrics report from now on.
        router.post("/_fake/engine") { request, _ in
            let b = try await body(request)
            stats.setEngine(slots: b["slots"]?.intValue, deferred: b["deferred"]?.intValue)
            return "ok"
        }
        router.post("/_fake/reset") { _, _ in
            stats.reset()
            return "ok"
        }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "fake-upstream", backlog: 4096),
            onServerRunning: { await onRunning($0.localAddress?.port ?? 0) }, logger: logger)
    }
}
