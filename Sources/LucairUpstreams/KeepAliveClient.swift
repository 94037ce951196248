import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A keep-alive HTTP/1.1 client for plain-HTTP upstreams (local engines, the hot path): whole
/// answers (`post`) and streams (`stream`, in KeepAliveClient+Stream.swift). Written here instead
/// of using AsyncHTTPClient on this path: AHC's general pool and per-request state machines cost
/// about a fifth of Lucair's CPU per request (docs/benchmarks.md, profile), and it hands a stream's
/// body over one HTTP chunk at a time, each a hop between tasks; this client keeps idle connections
/// per upstream, prefers one on the caller's event loop, sends a request's head and body in one
/// flush, and hands a stream over one socket read at a time. HTTPS stays on AHC.
///
/// Bounds per call: connect timeout, idle timeout (the longest silence from the upstream once the
/// request is sent) and a deadline (for a stream, on its head only). Cancelling the calling task,
/// or dropping a stream's body, closes the connection.
public final class KeepAliveClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: ByteBuffer
    }

    public enum Failure: Error, Equatable {
        /// No answer within the total deadline, or silence longer than the idle timeout.
        case timeout
        /// The connection closed before the whole answer arrived.
        case closed
        /// The answer was larger than `maxBody`.
        case tooLarge
        /// The URL is not `http://host[:port]/path`.
        case badURL
        /// A header name that is not a token, or a value HTTP does not allow (a CR, LF or NUL in it, say).
        case badHeader
    }

    struct Endpoint: Hashable {
        var host: String
        var port: Int
    }

    struct Idle {
        var channel: Channel
        var since: NIODeadline
    }

    let group: any EventLoopGroup
    let maxBody: Int
    /// Idle connections per upstream, most recently used last.
    let idle = Mutex<[Endpoint: [Idle]]>([:])
    static let maxIdlePerUpstream = 512
    /// Idle connections older than this are closed rather than reused: llama.cpp's server and
    /// uvicorn (vLLM) close idle keep-alive connections after 5 s, and a request written just as
    /// the server closes would fail.
    static let idleReuse = TimeAmount.seconds(4)

    /// `maxBody`: the largest answer taken; by default the same bound as AsyncHTTPClient's path.
    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maxBody: Int? = nil) {
        self.group = group
        self.maxBody = maxBody ?? UpstreamHTTP.maxBody
    }

    /// Upstream URLs already split: a deployment's URL is the same on every call.
    /// Where a URL's requests go and the start of their head, which does not change from one
    /// request to the next: worked out once per URL.
    struct Target {
        let endpoint: Endpoint
        let head: [UInt8]
    }

    let targets = Mutex<[String: Target]>([:])

    func target(_ url: String) -> Target? {
        if let known = targets.withLock({ $0[url] }) { return known }
        guard let (endpoint, path) = Self.split(url) else { return nil }
        let t = Target(endpoint: endpoint, head: Self.head(path: path, endpoint: endpoint))
        targets.withLock { if $0.count < 1024 { $0[url] = t } }
        return t
    }

    /// `http://host[:port]/path` → where to connect and the request target.
    static func split(_ url: String) -> (Endpoint, String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash], path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = Substring(authority), port = 80
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {  // [IPv6]:port
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = p
        }
        guard !host.isEmpty else { return nil }
        return (Endpoint(host: String(host), port: port), path)
    }

    public func post(url: String, headers: [(String, String)], body: [UInt8],
                     connectTimeout: TimeAmount, idleTimeout: TimeAmount, deadline: NIODeadline) async throws -> Response {
        try await send(url: url, headers: headers, body: body, connectTimeout: connectTimeout, idleTimeout: idleTimeout, deadline: deadline) { .whole($0) }
    }

    /// Sends a request on a pooled (or new) connection and waits for what `answer` resolves: the
    /// whole answer, or a stream's head. Cancelling the caller closes the connection.
    func send<T: Sendable>(url: String, headers: [(String, String)], body: [UInt8], connectTimeout: TimeAmount, idleTimeout: TimeAmount,
                           deadline: NIODeadline, _ answer: (EventLoopPromise<T>) -> Exchange.Answer) async throws -> T {
        guard let target = target(url) else { throw Failure.badURL }
        // RFC 9110's rules, as HTTPTypes checks them: nothing sent can end the head early.
        guard headers.allSatisfy({ HTTPField.Name($0.0) != nil && HTTPField.isValidValue($0.1) }) else { throw Failure.badHeader }
        let channel = try await connection(to: target.endpoint, connectTimeout: connectTimeout)
        let promise = channel.eventLoop.makePromise(of: T.self)
        let request = Self.request(head: target.head, headers: headers, body: body, allocator: channel.allocator)
        let exchange = Exchange(request: request, answer: answer(promise), idleTimeout: idleTimeout, deadline: deadline)
        // A write that finds the pipeline gone (the connection closed meanwhile) never reaches the
        // handler: its failure must end the call, or it would wait for ever.
        channel.writeAndFlush(exchange).whenFailure { exchange.fail($0) }
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }

    /// A POST's head up to its Content-Length value: the same for every request to one URL.
    static func head(path: String, endpoint: Endpoint) -> [UInt8] {
        let ipv6 = endpoint.host.contains(":")  // an IPv6 address goes in brackets
        let host = (ipv6 ? "[\(endpoint.host)]" : endpoint.host) + (endpoint.port == 80 ? "" : ":\(endpoint.port)")
        return Array("POST \(path) HTTP/1.1\r\nhost: \(host)\r\ncontent-type: application/json\r\ncontent-length: ".utf8)
    }

    /// A POST's bytes, head and body in one buffer, written past NIO's request encoder (see
    /// `RequestSink`): its header validation and head encoding, and a second buffer per request,
    /// cost about 3 % of Lucair's CPU per request in a profile. The caller checked the headers.
    static func request(head: [UInt8], headers: [(String, String)], body: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var b = allocator.buffer(capacity: head.count + 24 + headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 4 } + body.count)
        b.writeBytes(head)
        b.writeString(String(body.count))
        for (k, v) in headers {
            b.writeStaticString("\r\n")
            b.writeString(k)
            b.writeStaticString(": ")
            b.writeString(v)
        }
        b.writeStaticString("\r\n\r\n")
        b.writeBytes(body)
        return b
    }

    /// An idle connection to `endpoint`, preferably on the caller's event loop; else a new one.
    func connection(to endpoint: Endpoint, connectTimeout: TimeAmount) async throws -> Channel {
        let here = MultiThreadedEventLoopGroup.currentEventLoop
        let now = NIODeadline.now()
        var stale: [Channel] = []
        let reused: Channel? = idle.withLock { pools in
            guard var list = pools[endpoint] else { return nil }
            defer { pools[endpoint] = list }
            while let i = list.lastIndex(where: { $0.channel.eventLoop === here }) ?? list.indices.last {
                let c = list.remove(at: i)
                if c.channel.isActive, now - c.since < Self.idleReuse { return c.channel }
                stale.append(c.channel)
            }
            return nil
        }
        for c in stale { c.close(promise: nil) }
        if let reused { return reused }
        let maxBody = self.maxBody
        return try await ClientBootstrap(group: here ?? group.next())
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let ops = channel.pipeline.syncOperations
                    try ops.addHandler(RequestSink())
                    try ops.addHandler(ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                    try ops.addHandler(ExchangeHandler(maxBody: maxBody) { channel in
                        self?.release(channel, to: endpoint)
                    })
                }
            }
            .connect(host: endpoint.host, port: endpoint.port).get()
    }

    func release(_ channel: Channel, to endpoint: Endpoint) {
        let kept = idle.withLock { pools in
            guard pools[endpoint, default: []].count < Self.maxIdlePerUpstream else { return false }
            pools[endpoint, default: []].append(Idle(channel: channel, since: .now()))
            return true
        }
        if !kept { channel.close(promise: nil) }
    }

    /// Closes every idle connection (shutdown).
    public func shutdown() {
        let all = idle.withLock { pools in
            defer { pools = [:] }
            return pools.values.flatMap { $0.map(\.channel) }
        }
        for c in all { c.close(promise: nil) }
    }
}

/// One request on a connection: what to send and where the answer goes.
struct Exchange: Sendable {
    enum Answer: Sendable {
        /// The whole answer.
        case whole(EventLoopPromise<KeepAliveClient.Response>)
        /// A 200's head with its body to come as a stream; any other status with its whole body.
        case stream(EventLoopPromise<KeepAliveClient.Streamed>)
    }

    /// The whole request: head and body bytes (`KeepAliveClient.request`).
    var request: ByteBuffer
    var answer: Answer
    var idleTimeout: TimeAmount
    var deadline: NIODeadline

    func fail(_ error: any Error) {
        switch answer {
        case .whole(let p): p.fail(error)
        case .stream(let p): p.fail(error)
        }
    }
}

/// Sends an `Exchange` and collects its answer, or streams it; one at a time per connection (no
/// pipelining). On a complete keep-alive answer the connection goes back to the pool through `onIdle`.
final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    let maxBody: Int
    let onIdle: (Channel) -> Void
    var pending: Exchange?
    var head: HTTPResponseHead?
    var body: ByteBuffer?
    var lastRead = NIODeadline.now()
    var timer: Scheduled<Void>?
    /// A streamed body under way (after a 200 head of a `.stream` exchange), what this read brought
    /// for it so far, and whether its reader wants more (reads stop while it does not).
    var source: KeepAliveClient.StreamBody.Source?
    var batch: ByteBuffer?
    var producing = true
    var readHeld = false
    /// Which stream on this connection is the current one: a reader that finishes a stream after
    /// the connection went on to the next request must not touch that one.
    var streamNumber = 0

    init(maxBody: Int, onIdle: @escaping (Channel) -> Void) {
        self.maxBody = maxBody
        self.onIdle = onIdle
    }

    /// What the response decoder is shown of each request: it only needs to know a response is
    /// due, and that the method was not HEAD (a HEAD's answer has no body).
    static let observedHead = HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/"))

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        // A pooled connection the upstream closed just before this write: say so now rather than
        // wait for a timer on a dead channel.
        guard pending == nil, context.channel.isActive else {
            exchange.fail(KeepAliveClient.Failure.closed)
            promise?.fail(KeepAliveClient.Failure.closed)
            return
        }
        pending = exchange  // head and body are nil: the last answer ended (or failed and closed)
        lastRead = .now()
        arm(context)
        context.write(wrapOutboundOut(Self.observedHead), promise: nil)  // for the decoder; `RequestSink` drops it
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.request))), promise: promise)
    }

    /// One timer per exchange: it fires at the deadline or when the upstream has been silent for
    /// the idle timeout, whichever comes first, and re-arms itself while bytes keep arriving.
    func arm(_ context: ChannelHandlerContext) {
        guard let p = pending else { return }
        let at = min(p.deadline, lastRead + p.idleTimeout)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: at) {
            let (handler, context) = loopBound.value
            guard let p = handler.pending else { return }
            let now = NIODeadline.now()
            if !handler.producing { handler.lastRead = now }  // the reader is slow, not the upstream
            if now >= p.deadline || now >= handler.lastRead + p.idleTimeout {
                handler.fail(KeepAliveClient.Failure.timeout, context)
            } else {
                handler.arm(context)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = .now()
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            guard let p = pending, case .stream(let promise) = p.answer else { break }
            pending?.deadline = .distantFuture  // the deadline was for the head; the idle timeout goes on
            if h.status == .ok { startStream(h, promise, context) }
        case .body(var part):
            if source != nil {
                batch.setOrWriteBuffer(&part)
                return
            }
            // A stream's error answer: only what the error message needs is kept.
            if let p = pending, case .stream = p.answer, (body?.readableBytes ?? 0) >= UpstreamHTTP.maxErrorBody { return }
            body.setOrWriteBuffer(&part)
            if body!.readableBytes > maxBody { fail(KeepAliveClient.Failure.tooLarge, context) }
        case .end:
            guard let p = pending, let h = head else {
                context.close(promise: nil)
                return
            }
            timer?.cancel()
            pending = nil
            head = nil
            let response = KeepAliveClient.Response(status: Int(h.status.code), headers: h.headers,
                                                    body: body ?? context.channel.allocator.buffer(capacity: 0))
            body = nil
            // Back in the pool before the caller hears of the end: its next request reuses this connection.
            if h.isKeepAlive { onIdle(context.channel) } else { context.close(promise: nil) }
            let streamed = source != nil
            if let source {
                deliver()
                self.source = nil
                producing = true
                readHeld = false
                source.finish()
            }
            switch p.answer {
            case .whole(let promise): promise.succeed(response)
            case .stream(let promise): if !streamed { promise.succeed(.whole(response)) }  // else answered at the head
            }
        }
    }

    /// A 200 of a stream: its head goes to the caller now, its body one read at a time.
    func startStream(_ h: HTTPResponseHead, _ promise: EventLoopPromise<KeepAliveClient.Streamed>, _ context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let loop = context.eventLoop
        streamNumber += 1
        let number = streamNumber
        let made = KeepAliveClient.StreamBody.makeSequence(
            backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), finishOnDeinit: false,
            delegate: KeepAliveClient.StreamDelegate(
                more: { loop.execute { bound.value.0.resumeReading(number, bound.value.1) } },
                gone: { loop.execute { bound.value.0.readerGone(number, bound.value.1) } }))
        source = made.source
        promise.succeed(.streaming(status: Int(h.status.code), headers: h.headers, body: made.sequence))
    }

    /// Hands what this read brought to the stream's reader.
    func deliver() {
        guard let source, let bytes = batch else { return }
        batch = nil
        switch source.yield(bytes) {
        case .produceMore: break
        case .stopProducing: producing = false
        case .dropped: break  // the reader is gone: `readerGone` closes the connection
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        deliver()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if producing { context.read() } else { readHeld = true }
    }

    func resumeReading(_ number: Int, _ context: ChannelHandlerContext) {
        guard number == streamNumber, source != nil else { return }
        producing = true
        if readHeld {
            readHeld = false
            context.read()
        }
    }

    /// The stream's reader stopped (it finished, or it left before the end: then the rest of the
    /// answer is not wanted, and the connection cannot carry another request).
    func readerGone(_ number: Int, _ context: ChannelHandlerContext) {
        if number == streamNumber, source != nil { fail(KeepAliveClient.Failure.closed, context) }
    }

    func fail(_ error: any Error, _ context: ChannelHandlerContext) {
        timer?.cancel()
        if let p = pending {
            pending = nil
            if source == nil { p.fail(error) }  // else answered at the head: the body ends with the error
        }
        if let source {
            deliver()  // what this read brought before the failure still reaches the reader
            self.source = nil
            source.finish(error)
        }
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(KeepAliveClient.Failure.closed, context)
        context.fireChannelInactive()
    }
}

/// The socket end of an upstream connection's pipeline, in place of NIO's request encoder: NIO's
/// response decoder must see each request's head go out (it pairs responses with requests), but the
/// request's bytes are already whole (`KeepAliveClient.request`), so the head is dropped here and
/// the bytes go out as they are.
final class RequestSink: ChannelOutboundHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .body(.byteBuffer(let bytes)): context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
        case .head, .body, .end: promise?.succeed()
        }
    }
}
