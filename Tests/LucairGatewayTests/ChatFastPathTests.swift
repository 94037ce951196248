import Foundation
import HTTPTypes
@testable import LucairGateway
import LucairStorage
import LucairWire
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// `ChatFastPath` serves chat completions ahead of Hummingbird on the same connections: these
/// tests speak raw HTTP/1.1 to it, as a pipelining client would, and check what only the wire shows.
@Suite struct ChatFastPathTests {
    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// Writes `raw` on one connection and reads `count` answers (or what came within 20 s), in the
    /// order they arrived; then whether the server closed the connection within `closeWithin`.
    /// A raw connection to the gateway at `url`.
    static func connect(_ url: String) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let port = Int(url.split(separator: ":").last!)!
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port) { ch in
            ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
        }
    }

    /// `bodiless`: the indexes of answers to HEAD requests, which carry framing headers but no body.
    static func exchange(_ url: String, _ raw: String, count: Int, bodiless: Set<Int> = [], closeWithin: Duration = .milliseconds(300)) async throws -> ([Answer], closed: Bool) {
        let channel = try await connect(url)
        // A hang fails the test instead of holding the suite.
        let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(20)) { channel.channel.close(promise: nil) }
        defer { deadline.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(string: raw))
            var bytes: [UInt8] = []
            var answers: [Answer] = []
            var it = inbound.makeAsyncIterator()
            while answers.count < count, let chunk = try? await it.next() {
                bytes += chunk.readableBytesView
                while let (a, used) = parse(bytes, bodiless: bodiless.contains(answers.count)) {
                    answers.append(a)
                    bytes.removeFirst(used)
                }
            }
            // Closed by the server, or by us once `closeWithin` has passed.
            let timedOut = NIOLockedValueBox(false)
            let ch = channel.channel
            let timer = ch.eventLoop.scheduleTask(in: .nanoseconds(Int64(closeWithin.components.seconds * 1_000_000_000 + closeWithin.components.attoseconds / 1_000_000_000))) {
                timedOut.withLockedValue { $0 = true }
                ch.close(promise: nil)
            }
            while (try? await it.next()) != nil {}
            timer.cancel()
            return (answers, !timedOut.withLockedValue { $0 })
        }
    }

    /// One answer (framed by Content-Length or chunked) off the front of `bytes`, and how many bytes it took.
    static func parse(_ bytes: [UInt8], bodiless: Bool = false) -> (Answer, Int)? {
        let crlf2: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.dropLast(3).first(where: { Array(bytes[$0..<$0 + 4]) == crlf2 }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for l in lines.dropFirst() {
            let kv = l.split(separator: ":", maxSplits: 1)
            headers[kv[0].lowercased()] = kv.count == 2 ? kv[1].trimmingCharacters(in: .whitespaces) : ""
        }
        let status = lines[0].split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        if headers["transfer-encoding"] == "chunked", !bodiless {
            var at = end + 4, body: [UInt8] = []
            while true {  // size CRLF data CRLF …, until the zero-size chunk and its CRLF
                guard let lineEnd = bytes.indices.dropFirst(at).dropLast().first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
                      let size = Int(String(decoding: bytes[at..<lineEnd], as: UTF8.self), radix: 16),
                      bytes.count >= lineEnd + 2 + size + 2 else { return nil }
                body += bytes[(lineEnd + 2)..<(lineEnd + 2 + size)]
                at = lineEnd + 2 + size + 2
                if size == 0 { return (Answer(status: status, headers: headers, body: String(decoding: body, as: UTF8.self)), at) }
            }
        }
        let length = bodiless ? 0 : Int(headers["content-length"] ?? "") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return (Answer(status: status, headers: headers, body: String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self)), end + 4 + length)
    }

    static func chat(_ content: String, close: Bool = false) -> String {
        let body = TestStack.chatBody(model: "lucair/baseline", content: content)
        return "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\ncontent-type: application/json\r\n"
            + (close ? "connection: close\r\n" : "") + "content-length: \(body.utf8.count)\r\n\r\n" + body
    }

    static func get(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\n\r\n"
    }

    /// Pipelined requests for both paths, a slow chat first (the fast path answers it while the rest
    /// wait) and one over the body limit: every answer comes back complete, in request order, on the
    /// one connection.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await TestStack.with { s in
            let raw = Self.chat("first [fake latency_ms=200]") + Self.get("/health") + Self.get("/v1/models") + Self.chat("second")
                + Self.chat(String(repeating: "a", count: 70_000)) + Self.chat("third " + String(repeating: "b", count: 60_000))
            let (answers, closed) = try await Self.exchange(s.url, raw, count: 6)
            #expect(answers.map(\.status) == [200, 200, 200, 200, 413, 200])
            #expect(!closed)
            guard answers.count == 6 else { return }
            #expect((try JSON.parse(answers[1].body))["status"] == "ok")
            #expect((try JSON.parse(answers[2].body))["object"] == "list")
            for i in [0, 3, 5] {
                let a = answers[i]
                #expect((try JSON.parse(a.body))["object"] == "chat.completion")
                #expect(a.headers["x-lucair-request-id"]?.hasPrefix("req_") == true && a.headers["server"] == "lucair")
                #expect(a.headers["date"]?.hasSuffix(" GMT") == true && a.headers["x-lucair-cost-nano-usd"] != nil)
            }
            #expect((try JSON.parse(answers[4].body))["error"]?["code"] == "request_too_large")
            #expect(s.stats.requests == 3)  // the oversized one never reached the upstream; the large one under the limit did
        }
    }

    /// `Connection: close` is honoured: the answer is whole, then the server closes.
    @Test func connectionCloseEndsTheConnectionAfterTheAnswer() async throws {
        try await TestStack.with { s in
            let (answers, closed) = try await Self.exchange(s.url, Self.chat("bye", close: true), count: 1, closeWithin: .seconds(5))
            #expect(answers.map(\.status) == [200])
            #expect(closed)
        }
    }

    /// Header lines keep every value but the bytes that could end the head early, and read back as
    /// the same fields (Hummingbird's route for a pipelined chat takes them that way).
    @Test func headerLinesCannotBreakTheHeadAndReadBackAsFields() {
        var lines = HeaderLines()
        lines.add(.lucairModel, "model\r\nx-injected: 1")
        lines.add("x-ratelimit-limit-requests", "60")
        lines.add(.lucairRouteReason, "")
        lines.add(.lucairRouteTask, "a: b\u{301}")
        #expect(String(buffer: lines.bytes) == "x-lucair-model: model  x-injected: 1\r\nx-ratelimit-limit-requests: 60\r\nx-lucair-route-reason: \r\nx-lucair-route-task: a: b\u{301}\r\n")
        let fields = lines.fields
        #expect(fields[.lucairModel] == "model  x-injected: 1" && fields[HTTPField.Name("x-ratelimit-limit-requests")!] == "60" && fields.count == 4)
        #expect(fields[.lucairRouteReason] == "" && fields[.lucairRouteTask] == "a: b\u{301}")
    }

    /// An HTTP/1.0 request without keep-alive is answered whole, then the connection closes.
    @Test func anHTTP10RequestIsAnsweredThenClosed() async throws {
        try await TestStack.with { s in
            let raw = Self.chat("old client").replacingOccurrences(of: "HTTP/1.1\r\n", with: "HTTP/1.0\r\n")
            let (answers, closed) = try await Self.exchange(s.url, raw, count: 1, closeWithin: .seconds(5))
            #expect(answers.map(\.status) == [200])
            #expect(closed)
        }
    }

    /// A streamed answer (chunked, through NIO's encoder), then a whole one (written past the
    /// encoder), then Hummingbird's GET and HEAD answers (a HEAD's error too goes without its body)
    /// and chats again, pipelined on one connection: each is framed right, so each parses whole
    /// and in order; each chat held behind another is served from what was held.
    @Test func streamedWholeAndHeadAnswersShareAConnection() async throws {
        try await TestStack.with { s in
            let body = TestStack.chatBody(model: "lucair/baseline", content: "streamed", stream: true)
            let stream = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\n"
                + "content-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n" + body
            func head(_ path: String) -> String { "HEAD \(path) HTTP/1.1\r\nhost: x\r\n\r\n" }
            let raw = stream + Self.chat("whole") + Self.get("/health") + head("/health") + head("/v1/nope") + Self.chat("after") + stream
            let (answers, closed) = try await Self.exchange(s.url, raw, count: 7, bodiless: [3, 4])
            #expect(answers.map(\.status) == [200, 200, 200, 200, 404, 200, 200])
            #expect(!closed)
            guard answers.count == 7 else { return }
            for i in [0, 6] {
                #expect(answers[i].headers["content-type"] == "text/event-stream")
                #expect(answers[i].body.hasSuffix("data: [DONE]\n\n"), "\(answers[i].body)")
            }
            for i in [1, 5] { #expect((try JSON.parse(answers[i].body))["object"] == "chat.completion") }
            #expect((try JSON.parse(answers[2].body))["status"] == "ok")
            #expect(answers[3].body.isEmpty && answers[3].headers["content-length"] != nil)
        }
    }

    /// A client that leaves before its whole answer cancels the upstream call: the deployment's slot
    /// is free long before the upstream would have answered, the breaker does not count it against
    /// the deployment, and the request is metered as abandoned (499).
    @Test func aClientThatLeavesCancelsTheUpstreamCall() async throws {
        try await TestStack.with { s in
            func outstanding() -> Int? { s.gateway.health.snapshot().first { $0.name == "fake-local" }?.outstanding }
            // A plain channel (no async wrapper), so the test can drop it mid-answer.
            let port = Int(s.url.split(separator: ":").last!)!
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            try await channel.writeAndFlush(ByteBuffer(string: Self.chat("x [fake latency_ms=8000]"))).get()
            for _ in 0..<100 where outstanding() != 1 { try await Task.sleep(for: .milliseconds(50)) }
            #expect(outstanding() == 1)
            try await channel.close()
            let left = ContinuousClock.now
            // Well before the upstream's 8 s; 3 s leaves a loaded machine room, and still fails if
            // the call ran on to its end (at most 5 s went by before the client left).
            for _ in 0..<150 where outstanding() != 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(outstanding() == 0 && ContinuousClock.now - left < .seconds(3))
            #expect(s.gateway.health.snapshot().first { $0.name == "fake-local" }?.state == "closed")
            let metrics = try await s.get("/metrics", key: nil).body
            #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("lucair_requests_total{") && $0.contains("status=\"499\"") })
        }
    }

    /// A graceful shutdown waits for answers in flight only `shutdown_grace_ms`: a stream still
    /// going then ends with an error event and a whole answer still awaited becomes a 503, both
    /// `server_shutting_down`; their connections close and their upstream calls are cancelled, the
    /// process exits well before the stream would have ended, and what the stream delivered is
    /// metered as cut by the shutdown (503), not left unbilled.
    @Test func aStreamStillGoingWhenTheShutdownGraceEndsIsCutAndMetered() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lucair-grace-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var requestId: String?
        var shutdownStarted = ContinuousClock.now
        var reader: Task<String, any Error>?
        var wholeReader: Task<String, any Error>?
        try await TestStack.with(storageURL: "sqlite://\(dir)/lucair.sqlite", tweak: { t, _ in
            t.replacingOccurrences(of: "max_body_bytes = 65536", with: "max_body_bytes = 65536\nshutdown_grace_ms = 300")
        }) { s in
            let channel = try await Self.connect(s.url)
            // 100 chunks 100 ms apart: about 10 s if nobody cuts it.
            let body = TestStack.chatBody(model: "ministral-8b", content: "x [fake chunks=100 chunk_delay_ms=100]", stream: true)
            let raw = "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\n"
                + "content-type: application/json\r\ncontent-length: \(body.utf8.count)\r\n\r\n" + body
            let (heads, headSeen) = AsyncStream.makeStream(of: String.self)
            // Reads until the server closes the connection; the client never leaves on its own.
            reader = Task {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: raw))
                    var text = ""
                    for try await chunk in inbound {
                        text += String(buffer: chunk)
                        // The role chunk and two with text: something was delivered.
                        if text.components(separatedBy: "data: {").count > 3 { headSeen.yield(text) }
                    }
                    headSeen.finish()
                    return text
                }
            }
            // A whole answer the upstream takes 3 s to give (the fake itself waits that long to shut down).
            let whole = try await Self.connect(s.url)
            let slow = TestStack.chatBody(model: "ministral-8b", content: "x [fake latency_ms=3000]")
            wholeReader = Task {
                try await whole.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\n"
                        + "content-type: application/json\r\ncontent-length: \(slow.utf8.count)\r\n\r\n" + slow))
                    var text = ""
                    for try await chunk in inbound { text += String(buffer: chunk) }
                    return text
                }
            }
            var it = heads.makeAsyncIterator()
            let head = try #require(await it.next())
            // Both calls upstream before the shutdown starts, however loaded the machine.
            for _ in 0..<200 where s.gateway.health.snapshot().reduce(0, { $0 + $1.outstanding }) < 2 {
                try await Task.sleep(for: .milliseconds(25))
            }
            requestId = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-lucair-request-id:") }?
                .split(separator: ":").last?.trimmingCharacters(in: .whitespaces)
            shutdownStarted = .now  // returning starts the graceful shutdown, with the stream going
        }
        #expect(ContinuousClock.now - shutdownStarted < .seconds(6), "the shutdown waited for the 10 s stream")
        let text = try #require(try await reader?.value)
        #expect(!text.contains("[DONE]") && text.contains("server_shutting_down"), "\(text.suffix(300))")
        let wholeText = try #require(try await wholeReader?.value)
        #expect(wholeText.hasPrefix("HTTP/1.1 503") && wholeText.contains("\"code\":\"server_shutting_down\""), "\(wholeText)")
        let id = try #require(requestId)
        let record = try #require(try await SQLiteStorage(path: "\(dir)/lucair.sqlite").usage(requestId: id))
        #expect(record.status == 503 && record.errorType == "server_shutting_down", "\(record)")
        #expect(record.outputTokens > 0 && record.estimated, "\(record)")
    }

    /// `Expect: 100-continue` (curl sends it before a large body) is answered at once, on the chat
    /// endpoint and on Hummingbird's, so the client sends its body without waiting out its own timeout.
    @Test(arguments: ["/v1/chat/completions", "/v1/route"])
    func expectContinueIsAnsweredBeforeTheBody(path: String) async throws {
        try await TestStack.with { s in
            let channel = try await Self.connect(s.url)
            let deadline = channel.channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.channel.close(promise: nil) }
            defer { deadline.cancel() }
            try await channel.executeThenClose { inbound, outbound in
                let body = TestStack.chatBody(model: "auto", content: "hi")
                try await outbound.write(ByteBuffer(string: "POST \(path) HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(TestStack.adminKey)\r\n"
                    + "content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: \(body.utf8.count)\r\n\r\n"))
                var bytes: [UInt8] = []
                var it = inbound.makeAsyncIterator()
                while !String(decoding: bytes, as: UTF8.self).contains("\r\n\r\n"), let chunk = try? await it.next() { bytes += chunk.readableBytesView }
                let interim = String(decoding: bytes, as: UTF8.self)
                #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim)")
                guard let end = interim.range(of: "\r\n\r\n") else { return }
                bytes = Array(interim[end.upperBound...].utf8)
                try await outbound.write(ByteBuffer(string: body))
                var answer: Answer?
                while answer == nil, let chunk = try? await it.next() {
                    bytes += chunk.readableBytesView
                    answer = Self.parse(bytes)?.0
                }
                #expect(answer?.status == 200, "\(answer?.body ?? "")")
            }
        }
    }

    /// A request the fast path holds back (it arrived while a chat was being answered) still
    /// reaches Hummingbird's other routes, and errors there keep OpenAI's shape.
    @Test func heldRequestsReachTheOtherRoutes() async throws {
        try await TestStack.with { s in
            let raw = Self.chat("slow [fake latency_ms=150]") + Self.get("/v1/nope") + Self.get("/health")
            let (answers, _) = try await Self.exchange(s.url, raw, count: 3)
            #expect(answers.map(\.status) == [200, 404, 200])
            if answers.count == 3 { #expect((try JSON.parse(answers[1].body))["error"]?["code"] == "unknown_url") }
        }
    }
}
