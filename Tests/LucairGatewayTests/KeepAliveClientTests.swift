import LucairCore
import LucairWire
import NIOCore
import Testing
@testable import LucairUpstreams

/// The lean upstream client against the real fake server: keep-alive reuse, its three time
/// bounds, refusal and cancellation; and through the gateway, a timed-out local deployment.
@Suite struct KeepAliveClientTests {
    static let body = (["model": "ministral-8b", "messages": [["role": "user", "content": "hi"]]] as JSONValue).serialized()

    /// Bounds a test does not exercise are generous: a loaded machine must not fail a correct build.
    static func post(_ c: KeepAliveClient, _ url: String, content: String = "hi", headers: [(String, String)] = [("authorization", "Bearer x")],
                     connect: Int64 = 5000, idle: Int64 = 10000, total: Int64 = 10000) async throws -> KeepAliveClient.Response {
        let body = (["model": "ministral-8b", "messages": [["role": "user", "content": .string(content)]]] as JSONValue).serialized()
        return try await c.post(url: url + "/v1/chat/completions", headers: headers, body: body,
                                connectTimeout: .milliseconds(connect), idleTimeout: .milliseconds(idle), deadline: .now() + .milliseconds(total))
    }

    func idleCount(_ c: KeepAliveClient) -> Int { c.idle.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    @Test func splitsURLs() {
        #expect(KeepAliveClient.split("http://127.0.0.1:8080/v1/chat")?.0 == .init(host: "127.0.0.1", port: 8080))
        #expect(KeepAliveClient.split("http://127.0.0.1:8080/v1/chat")?.1 == "/v1/chat")
        #expect(KeepAliveClient.split("http://engine/v1")?.0 == .init(host: "engine", port: 80))
        #expect(KeepAliveClient.split("http://[::1]:9000/x")?.0 == .init(host: "::1", port: 9000))
        #expect(KeepAliveClient.split("http://host:port/x") == nil)
        #expect(KeepAliveClient.split("https://api.anthropic.com/v1") == nil)
    }

    /// The request goes out as bytes written here, not by NIO's encoder: they must be a well-formed
    /// HTTP/1.1 POST, and a header that could end the head early never goes out.
    @Test func writesTheRequestItselfAndRefusesHeadersThatWouldBreakIt() async throws {
        let bytes = KeepAliveClient.request(head: KeepAliveClient.head(path: "/v1/chat/completions", endpoint: .init(host: "engine", port: 8080)),
                                            headers: [("authorization", "Bearer k")], body: Array("{}".utf8), allocator: ByteBufferAllocator())
        #expect(String(buffer: bytes) == "POST /v1/chat/completions HTTP/1.1\r\nhost: engine:8080\r\ncontent-type: application/json\r\ncontent-length: 2\r\nauthorization: Bearer k\r\n\r\n{}")
        let port80 = KeepAliveClient.request(head: KeepAliveClient.head(path: "/", endpoint: .init(host: "engine", port: 80)), headers: [], body: [], allocator: ByteBufferAllocator())
        #expect(String(buffer: port80).hasPrefix("POST / HTTP/1.1\r\nhost: engine\r\n"))
        let ipv6 = KeepAliveClient.request(head: KeepAliveClient.head(path: "/", endpoint: .init(host: "::1", port: 8000)), headers: [], body: [], allocator: ByteBufferAllocator())
        #expect(String(buffer: ipv6).hasPrefix("POST / HTTP/1.1\r\nhost: [::1]:8000\r\n"))
        // Refused before connecting: nothing listens on port 1, so a check made after connecting
        // would fail with a connection error instead.
        let c = KeepAliveClient(maxBody: 1 << 20)
        defer { c.shutdown() }
        for bad in [("authorization", "Bearer k\r\nx-injected: 1"), ("bad name", "v"), ("", "v"), ("x", "a\u{0}b")] {
            await #expect(throws: KeepAliveClient.Failure.badHeader) {
                try await c.post(url: "http://127.0.0.1:1/v1/chat/completions", headers: [bad], body: Self.body,
                                 connectTimeout: .seconds(1), idleTimeout: .seconds(5), deadline: .now() + .seconds(5))
            }
        }
        try await TestStack.with { s in
            let ok = try await Self.post(c, s.fakeURL, headers: [("authorization", "Bearer x"), ("x-trace", "a b; c=1")])
            #expect(ok.status == 200, "a request with good headers still goes through")
        }
    }

    @Test func reusesOneConnectionForSequentialCalls() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            for i in 0..<5 {
                let r = try await Self.post(c, s.fakeURL, content: "call \(i)")
                #expect(r.status == 200)
                let json = try JSON.parse(bytes: r.body.readableBytesView)
                #expect(json["object"] == "chat.completion")
                #expect(idleCount(c) == 1, "after call \(i) one connection is idle, reused by the next")
            }
            // Concurrent calls open more connections; all come back to the pool.
            try await withThrowingTaskGroup(of: Int.self) { g in
                for _ in 0..<4 { g.addTask { try await Self.post(c, s.fakeURL).status } }
                for try await status in g { #expect(status == 200) }
            }
            #expect((1...4).contains(idleCount(c)))
        }
    }

    @Test func upstreamErrorStatusAndBodyComeBack() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            let r = try await Self.post(c, s.fakeURL, content: "[fake status=429 retry_after=7]")
            #expect(r.status == 429 && r.headers.first(name: "retry-after") == "7")
            #expect(String(buffer: r.body).contains("error"))
            #expect(try await Self.post(c, s.fakeURL).status == 200, "the connection is still usable after an error answer")
        }
    }

    @Test func totalDeadlineAndIdleTimeoutBoundTheWait() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            for (idle, total) in [(Int64(5000), Int64(150)), (150, 5000)] {
                let t0 = ContinuousClock.now
                await #expect(throws: KeepAliveClient.Failure.timeout) {
                    _ = try await Self.post(c, s.fakeURL, content: "slow [fake latency_ms=3000]", idle: idle, total: total)
                }
                let took = ContinuousClock.now - t0
                #expect(took >= .milliseconds(140) && took < .milliseconds(2500), "gave up after \(took) (idle \(idle) ms, total \(total) ms)")
            }
            #expect(idleCount(c) == 0, "a timed-out connection is closed, not pooled")
            let e = UpstreamErrors.transport(KeepAliveClient.Failure.timeout, deployment: "d")
            #expect(e.status == 504 && e.code == "upstream_timeout" && e.retryable)
        }
    }

    @Test func refusedConnectionIsARetryableUnreachableError() async throws {
        let c = KeepAliveClient(maxBody: 1 << 20)
        // Port 1 on loopback: nothing listens there.
        let error = await #expect(throws: (any Error).self) { _ = try await Self.post(c, "http://127.0.0.1:1") }
        let e = UpstreamErrors.transport(try #require(error), deployment: "d")
        #expect(e.status == 502 && e.code == "upstream_unreachable" && e.retryable)
    }

    @Test func cancellingTheCallClosesTheConnection() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            let t0 = ContinuousClock.now
            let call = Task { try await Self.post(c, s.fakeURL, content: "slow [fake latency_ms=3000]") }
            try await Task.sleep(for: .milliseconds(100))
            call.cancel()
            await #expect(throws: (any Error).self) { _ = try await call.value }
            #expect(ContinuousClock.now - t0 < .milliseconds(2000))
            #expect(idleCount(c) == 0)
        }
    }

    @Test func oversizedAnswerIsRefused() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 64)
            defer { c.shutdown() }
            await #expect(throws: KeepAliveClient.Failure.tooLarge) { _ = try await Self.post(c, s.fakeURL) }
        }
    }

    static func stream(_ c: KeepAliveClient, _ url: String, content: String, idle: Int64 = 10000, head: Int64 = 10000) async throws -> KeepAliveClient.Streamed {
        let body = (["model": "ministral-8b", "stream": true, "messages": [["role": "user", "content": .string(content)]]] as JSONValue).serialized()
        return try await c.stream(url: url + "/v1/chat/completions", headers: [], body: body, connectTimeout: .milliseconds(5000),
                                  idleTimeout: .milliseconds(idle), headDeadline: .now() + .milliseconds(head))
    }

    /// The events of a streamed body, and how many buffers they came in.
    static func events(_ body: KeepAliveClient.StreamBody) async throws -> (events: [SSEEvent], buffers: Int) {
        var parser = SSEParser(), events: [SSEEvent] = [], buffers = 0
        for try await buffer in body {
            buffers += 1
            events += buffer.withUnsafeReadableBytes { parser.feed($0) }
        }
        return (events, buffers)
    }

    @Test func streamsComeOneReadAtATimeAndTheConnectionIsReused() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            for round in 0..<3 {
                guard case .streaming(let status, _, let body) = try await Self.stream(c, s.fakeURL, content: "[fake chunks=24 together=1]") else {
                    Issue.record("no stream"); return
                }
                #expect(status == 200)
                let (events, buffers) = try await Self.events(body)
                #expect(events.last?.data == "[DONE]" && events.count >= 26, "\(events.count) events")
                #expect(buffers < events.count, "HTTP chunks that arrive in one read come as one buffer (\(buffers) for \(events.count))")
                #expect(idleCount(c) == 1, "round \(round): the connection went back to the pool")
            }
            // Spaced chunks still arrive one by one, as they come.
            guard case .streaming(_, _, let body) = try await Self.stream(c, s.fakeURL, content: "[fake chunks=3 chunk_delay_ms=150]") else {
                Issue.record("no stream"); return
            }
            #expect(try await Self.events(body).buffers >= 2, "spaced chunks are handed on as they come, not held to the end")
        }
    }

    @Test func aStreamsErrorStatusComesBackWhole() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            guard case .whole(let r) = try await Self.stream(c, s.fakeURL, content: "[fake status=429 retry_after=7]") else {
                Issue.record("an error answer was streamed"); return
            }
            #expect(r.status == 429 && r.headers.first(name: "retry-after") == "7" && String(buffer: r.body).contains("error"))
        }
    }

    @Test func aReaderThatLeavesEarlyClosesTheConnectionAndAStallEndsTheStream() async throws {
        try await TestStack.with { s in
            let c = KeepAliveClient(maxBody: 1 << 20)
            defer { c.shutdown() }
            guard case .streaming(_, _, let body) = try await Self.stream(c, s.fakeURL, content: "[fake chunks=10 chunk_delay_ms=50]") else {
                Issue.record("no stream"); return
            }
            let it = body.makeAsyncIterator()
            #expect(try await it.next() != nil)
            _ = consume it  // the reader leaves: the rest of the answer is not wanted
            try await Task.sleep(for: .milliseconds(900))  // past the answer's end (10 × 50 ms)
            #expect(idleCount(c) == 0, "a connection whose reader left is closed, not pooled once the answer ends")
            // Silence longer than the idle timeout after the head ends the body with a timeout.
            guard case .streaming(_, _, let stalled) = try await Self.stream(c, s.fakeURL, content: "[fake chunks=4 chunk_delay_ms=8000]", idle: 3000) else {
                Issue.record("no stream"); return
            }
            await #expect(throws: KeepAliveClient.Failure.timeout) { _ = try await Self.events(stalled) }
            // The head has its own deadline.
            await #expect(throws: KeepAliveClient.Failure.timeout) {
                _ = try await Self.stream(c, s.fakeURL, content: "[fake latency_ms=1500]", head: 200)
            }
        }
    }

    /// Through the gateway: a local deployment that does not answer within its total timeout gives
    /// the client a 504 with OpenAI's error shape.
    @Test func gatewayMapsALocalTimeoutTo504() async throws {
        try await TestStack.with(tweak: TestStack.tweak(inside: "total_timeout_ms = 1500")) { s in
            // 1.5 s: short for the test, long enough that a machine loaded by the other suites serves
            // the quick one in time (600 ms was not, once).
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "ministral-8b", content: "slow [fake latency_ms=3500]"))
            #expect(r.status == 504, "\(r.body)")
            #expect(r.json["error"]?["code"] == "upstream_timeout")
            let ok = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "ministral-8b", content: "quick"))
            #expect(ok.status == 200 && ok.json["choices"]?[0]?["message"]?["content"]?.stringValue?.isEmpty == false, "\(ok.status) \(ok.body)")
        }
    }
}
