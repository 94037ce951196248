import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import LucairCore
import LucairFakes
import LucairGateway
import LucairWire
import NIOCore
import ServiceLifecycle
import Testing

/// A fake upstream and a gateway, both in-process on port 0, torn down when the body returns.
struct TestStack {
    static let adminKey = "sk-luc-testtesttesttesttesttesttesttesttest"
    let url: String
    let fakeURL: String
    let gateway: Gateway
    let stats: FakeStats

    static func config(fakePort: Int, storageURL: String, extra: String = "") -> String {
        """
        [server]
        listen = "127.0.0.1:0"
        max_body_bytes = 65536
        [storage]
        url = "\(storageURL)"
        [auth]
        admin_key = "\(adminKey)"
        \(extra)
        [[tiers.baseline.deployments]]
        name = "fake-local"
        kind = "openai_compatible"
        url = "http://127.0.0.1:\(fakePort)/v1"
        model = "ministral-8b"
        [[tiers.fast.deployments]]
        name = "fake-haiku"
        kind = "anthropic"
        url = "http://127.0.0.1:\(fakePort)"
        model = "claude-haiku-4-5"
        api_key = "test-anthropic-key"
        [[prices]]
        effective = "2026-01-01"
        version = "test-v1"
        [prices.models."ministral-8b"]
        input = 200
        cached_input = 20
        output = 1000
        [prices.models."claude-haiku-4-5"]
        input = 1000
        cached_input = 100
        cache_write = 1250
        output = 5000
        """
    }

    /// Adds a local embedding deployment (model `local-embed`) served by the fake.
    static func withEmbeddings(_ t: String, _ port: Int) -> String {
        t.replacingOccurrences(of: "[[prices]]", with: """
            [[embeddings.deployments]]
            name = "fake-embed"
            kind = "openai_compatible"
            url = "http://127.0.0.1:\(port)/v1"
            model = "local-embed"
            [[prices]]
            """)
    }

    /// A config tweak: `block(port)` (TOML: settings, more deployments) goes just before deployment
    /// `name` of `tier`, and `inside` (keys of its own) into that deployment's table.
    static func tweak(before name: String = "fake-local", tier: String = "baseline", inside: String = "",
                      _ block: @escaping @Sendable (Int) -> String = { _ in "" }) -> @Sendable (String, Int) -> String {
        { t, port in
            let anchor = "[[tiers.\(tier).deployments]]\nname = \"\(name)\""
            return t.replacingOccurrences(of: anchor, with: block(port) + "\n" + anchor + (inside.isEmpty ? "" : "\n" + inside))
        }
    }

    /// Another deployment of `tier` on the fake, whose upstream model is `upstream`: a directive with
    /// `only=<upstream>` reaches it alone.
    static func twin(_ name: String, tier: String = "baseline", upstream: String, port: Int, extra: String = "") -> String {
        let anthropic = tier == "fast"
        return """
            [[tiers.\(tier).deployments]]
            name = "\(name)"
            kind = "\(anthropic ? "anthropic" : "openai_compatible")"
            url = "http://127.0.0.1:\(port)\(anthropic ? "" : "/v1")"
            model = "\(anthropic ? "claude-haiku-4-5" : "ministral-8b")"
            upstream_model = "\(upstream)"
            \(anthropic ? "api_key = \"test-anthropic-key\"" : "")
            \(extra)
            """
    }

    /// `tweak` edits the TOML text before it is parsed (add deployments, change storage…).
    /// Teardown is a graceful shutdown, as on SIGTERM in production (cancelling a server that still
    /// holds idle keep-alive connections was seen to hang).
    static func with(storageURL: String = "sqlite::memory:", tweak: (String, Int) -> String = { t, _ in t },
                     _ body: (TestStack) async throws -> Void) async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical  // failures under test are asserted, not logged
        let stats = FakeStats()
        let (fakePorts, fakeCont) = AsyncStream.makeStream(of: Int.self)
        let (gwPorts, gwCont) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let fake = ServiceGroup(services: [FakeServer.build(port: 0, stats: stats, logger: logger) { fakeCont.yield($0) }], logger: logger)
            // A server that fails to start ends its port stream, so the test fails instead of waiting forever.
            group.addTask { defer { fakeCont.finish() }; try await fake.run() }
            var it = fakePorts.makeAsyncIterator()
            guard let fakePort = await it.next() else { try await group.next(); throw StackError.didNotStart("fake upstream") }
            let outcome: Result<Void, any Error>
            let app: ServiceGroup, gateway: Gateway
            do {
                let toml = tweak(config(fakePort: fakePort, storageURL: storageURL), fakePort)
                let cfg = try ConfigLoader.parse(toml: toml, file: "test.toml", environment: [:])
                gateway = try await Gateway(config: cfg, logger: logger)
                app = ServiceGroup(services: [LucairApp.build(gateway: gateway) { gwCont.yield($0) }], logger: logger)
            } catch {
                await fake.triggerGracefulShutdown()
                throw error
            }
            group.addTask { defer { gwCont.finish() }; try await app.run() }
            var git = gwPorts.makeAsyncIterator()
            if let port = await git.next() {
                let stack = TestStack(url: "http://127.0.0.1:\(port)", fakeURL: "http://127.0.0.1:\(fakePort)", gateway: gateway, stats: stats)
                do { try await body(stack); outcome = .success(()) } catch { outcome = .failure(error) }
            } else {
                outcome = .failure(StackError.didNotStart("gateway"))
            }
            await app.triggerGracefulShutdown()
            await fake.triggerGracefulShutdown()
            try await group.waitForAll()
            try outcome.get()
        }
    }

    enum StackError: Error { case didNotStart(String) }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: JSONValue { (try? JSON.parse(body)) ?? nil }
    }

    /// `base`: another server than the gateway (the fake's URL, for its test controls).
    func post(_ path: String, _ body: String, key: String? = TestStack.adminKey, contentType: String = "application/json", base: String? = nil) async throws -> Reply {
        var req = HTTPClientRequest(url: (base ?? url) + path)
        req.method = .POST
        req.headers.add(name: "content-type", value: contentType)
        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
        req.body = .bytes(ByteBuffer(string: body))
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let bytes = try await r.body.collect(upTo: 16 << 20)
        var h: [String: String] = [:]
        for f in r.headers { h[f.name.lowercased()] = f.value }
        return Reply(status: Int(r.status.code), headers: h, body: String(buffer: bytes))
    }

    func get(_ path: String, key: String? = TestStack.adminKey) async throws -> Reply {
        var req = HTTPClientRequest(url: url + path)
        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
        let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
        let bytes = try await r.body.collect(upTo: 16 << 20)
        return Reply(status: Int(r.status.code), headers: [:], body: String(buffer: bytes))
    }

    /// Rate windows are fixed minutes: a test that counts requests waits out the last seconds of a
    /// minute rather than straddle two windows.
    /// Calls `attempt`, `every` apart, until `done` holds of what it returned or `seconds` pass;
    /// returns the last result either way (the caller asserts on it). For what a loaded machine may
    /// take a while to show.
    static func polling<T>(for seconds: Int = 10, every: Duration = .milliseconds(20), _ attempt: () async throws -> T,
                           until done: (T) -> Bool) async throws -> T {
        let end = ContinuousClock.now + .seconds(seconds)
        var last = try await attempt()
        while !done(last), ContinuousClock.now < end {
            try await Task.sleep(for: every)
            last = try await attempt()
        }
        return last
    }

    /// Until each replica's key refresher has loaded `key`, however loaded the machine (at most 10 s).
    static func loaded(_ key: String, on stacks: [TestStack]) async throws {
        for s in stacks { _ = try await polling(every: .milliseconds(50), { s.gateway.keys.principal(forKey: key) }, until: { $0 != nil }) }
    }

    /// Requests these replicas counted alone because the shared store did not answer in time.
    static func fallbacks(_ stacks: TestStack...) -> Int {
        stacks.reduce(0) { $0 + $1.gateway.limiter.localFallbacks.load(ordering: .relaxed) }
    }

    static func awayFromMinuteEdge(needing seconds: Int = 10) async throws {
        let second = Int(Date().timeIntervalSince1970) % 60
        if second > 60 - seconds { try await Task.sleep(for: .seconds(61 - second)) }
    }

    static func chatBody(model: String, content: String, stream: Bool = false, includeUsage: Bool = false) -> String {
        let body: JSONValue = [
            "model": .string(model), "messages": [["role": "user", "content": .string(content)]], "stream": .bool(stream),
        ]
        var b = body
        if includeUsage { b["stream_options"] = ["include_usage": true] }
        return b.jsonString
    }

    /// The SSE `data:` payloads of a streamed reply.
    static func events(_ body: String) -> [String] {
        var p = SSEParser()
        return p.feed(Array(body.utf8)).map(\.data)
    }

    func record(_ requestId: String) async throws -> UsageRecord? {
        await gateway.usage.flush()
        return try await gateway.storage.usage(requestId: requestId)
    }
}
