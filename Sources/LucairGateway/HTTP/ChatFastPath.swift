import Foundation
import HTTPTypes
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// Serves `POST /v1/chat/completions` straight off the connection's pipeline, right after NIO's
/// request decoder and in front of Hummingbird (`LucairHTTP1Channel`): the body is gathered on the
/// event loop, one task runs `Routes.chatAnswer`, and a whole answer is written back on the loop as
/// bytes, head and body in one buffer, past NIO's response encoder. Profiles showed Hummingbird's
/// per-request machinery (the async channel's inbound stream and writer, the router, request and
/// response wrappers, the conversions between NIOHTTP1's and HTTPTypes' heads) as a large share of
/// Lucair's CPU per request; this path skips it for the one endpoint that carries the load. Every
/// other request passes through untouched.
///
/// HTTP/1.1 allows pipelining, so answers must leave in request order: a chat request that arrives
/// while Hummingbird still owes an answer goes to Hummingbird too (its route serves it the same
/// way), and whatever arrives while this path is answering waits here until it is done.
///
/// Being first on the pipeline, it also answers `Expect: 100-continue` for every endpoint, and
/// cancels the answering task when the client leaves.
final class ChatFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    enum State {
        case idle
        /// Passing a request's parts on to Hummingbird.
        case passing
        /// Gathering a chat request's body into `body`.
        case reading(HTTPRequestHead, ContinuousClock.Instant)
        case answering
    }

    let routes: Routes
    let maxBody: Int
    var state = State.idle
    /// The body being gathered; nil once it is over the limit (the rest is dropped, the answer is a 413).
    var body: ByteBuffer?
    /// Requests passed to Hummingbird whose answer has not ended yet, oldest first: true for a HEAD
    /// request, whose answer must go without its body. (NIO's encoder drops it when paired with the
    /// decoder, a pairing the fast path's answers, which bypass the encoder, rule out.)
    var owedByHummingbird = CircularBuffer<Bool>()
    var droppingBody = false
    /// What arrived while a chat request was read or answered, replayed once the answer is out:
    /// later requests, events (a graceful shutdown, the client's half-close) and, while answering,
    /// errors, on which Hummingbird, which knows nothing of the chat request, would close the
    /// connection under it. Reads pause once something is held (`read`), so this stays small.
    enum Held { case part(HTTPServerRequestPart), event(Any), error(any Error) }
    var held = CircularBuffer<Held>()
    var readPending = false
    var date = HTTPDate()
    /// The task answering the current chat request: cancelled when the client leaves, which
    /// cancels the upstream call (a long generation nobody will read stops costing GPU time).
    var answering: Task<Void, Never>?
    /// The response encoder's context: a whole answer, already encoded, is written through it to the
    /// socket. Nothing is lost by skipping the encoder, which keeps no state across answers here
    /// (`LucairHTTP1Channel` does not pair it with the decoder). Nil once the connection is torn
    /// down: an answer finished after that has nobody to go to.
    var encoded: ChannelHandlerContext?
    /// Armed by a graceful shutdown that finds an answer in flight: when `shutdown_grace_ms` ends
    /// first, `endForShutdown` ends the answer and closes the connection.
    var shutdownDeadline: Scheduled<Void>?
    /// The current answer is a stream whose head is out: it can only be ended with an error event.
    var streamHeadSent = false
    /// The shutdown's grace ended: the connection is closing, and the answer's task writes nothing more.
    var closingForShutdown = false
    /// A flush is queued on the loop (`flushSoon`).
    var flushQueued = false

    init(routes: Routes) {
        self.routes = routes
        self.maxBody = routes.gateway.config.maxBodyBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        encoded = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        encoded = nil  // the contexts would otherwise keep each other alive
    }

    var answeringNow: Bool {
        if case .answering = state { true } else { false }
    }

    /// Reading or answering a chat request of its own.
    var busy: Bool {
        switch state {
        case .reading, .answering: true
        case .idle, .passing: false
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context)
    }

    private func handle(_ part: HTTPServerRequestPart, _ context: ChannelHandlerContext) {
        switch (state, part) {
        case (.answering, _):
            held.append(.part(part))
        case (.idle, .head(let head)):
            // curl asks before sending a large body (an image in base64 passes 1 MB) and waits a
            // second for this before sending it anyway; Hummingbird does not answer it, so this
            // does, for every endpoint, when no earlier answer is still owed.
            if owedByHummingbird.isEmpty, head.headers.first(name: "expect")?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
            }
            if owedByHummingbird.isEmpty, head.method == .POST, head.uri == "/v1/chat/completions" {
                state = .reading(head, .now)
                body = context.channel.allocator.buffer(capacity: 0)
            } else {
                owedByHummingbird.append(head.method == .HEAD)
                state = .passing
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.reading, .body(var chunk)):
            if let size = body?.readableBytes, size + chunk.readableBytes <= maxBody {
                body!.writeBuffer(&chunk)
            } else {
                body = nil
            }
        case (.reading(let head, let received), .end):
            state = .answering
            let gathered = body
            body = nil
            answer(head, gathered, received, context)
        case (.passing, .end):
            state = .idle
            context.fireChannelRead(wrapInboundOut(part))
        default:
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    private func answer(_ request: HTTPRequestHead, _ body: ByteBuffer?, _ received: ContinuousClock.Instant, _ context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let routes = self.routes
        let address = context.channel.remoteAddress
        let close = !request.isKeepAlive
        let head = ChatHead(request)
        let inFlight = routes.gateway.answersInFlight
        inFlight.began()
        answering = Task {
            defer { inFlight.ended() }
            switch await routes.chatAnswer(head, remoteAddress: address, body: body, received: received) {
            case .whole(let response, let bytes):
                let lines = HeaderLines(response.headerFields)
                loop.execute { bound.value.0.writeAnswer(response.status.code, response.status.reasonPhrase, lines, bytes, close: close, bound.value.1) }
            case .ok(let lines, let bytes):
                loop.execute { bound.value.0.writeAnswer(200, "OK", lines, bytes, close: close, bound.value.1) }
            case .stream(let response, let opened):
                // On the loop when the task is there already: queued behind it, the head could
                // leave after chunks the task writes at once.
                func onLoop(_ body: @escaping @Sendable (ChatFastPath, ChannelHandlerContext) -> Void) {
                    if loop.inEventLoop { body(bound.value.0, bound.value.1) } else { loop.execute { body(bound.value.0, bound.value.1) } }
                }
                onLoop { me, context in
                    guard !me.closingForShutdown else { return }
                    var head = HTTPHeaders(response.headerFields.map { ($0.name.rawName, $0.value) })
                    head.add(name: "date", value: me.date.now())
                    head.add(name: "server", value: LucairApp.serverName)
                    context.write(me.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status.code), headers: head))), promise: nil)
                    me.flushSoon(context)
                    me.streamHeadSent = true
                }
                await routes.gateway.chat.pump(opened) { bytes in
                    if loop.inEventLoop {
                        if let slowClient = bound.value.0.writeStream(bytes, bound.value.1) { try await slowClient.get() }
                    } else {
                        try await loop.flatSubmit { bound.value.0.writeStream(bytes, bound.value.1) ?? loop.makeSucceededVoidFuture() }.get()
                    }
                }
                onLoop { me, context in
                    guard !me.closingForShutdown else { return }
                    context.write(me.wrapOutboundOut(.end(nil)), promise: nil)  // the encoder's last chunk
                    me.end(close: close, context)
                }
            }
        }
    }

    /// Writes a piece of a stream without flushing it: one flush, queued behind what the loop has to
    /// do right now, sends every piece written meanwhile in one `writev` (chunks that arrive together
    /// from the upstream, the head with the first). Returns what to wait for only when the client
    /// reads slower than the stream comes; a closed connection fails the write.
    func writeStream(_ bytes: [UInt8], _ context: ChannelHandlerContext) -> EventLoopFuture<Void>? {
        guard !closingForShutdown, context.channel.isActive else { return context.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        let part = wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes))))
        guard context.channel.isWritable else {
            return context.writeAndFlush(part)
        }
        context.write(part, promise: nil)
        flushSoon(context)
        return nil
    }

    func flushSoon(_ context: ChannelHandlerContext) {
        guard !flushQueued else { return }
        flushQueued = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (me, context) = bound.value
            me.flushQueued = false
            context.flush()
        }
    }

    /// A whole answer written past the encoder.
    private func writeAnswer(_ code: Int, _ reason: String, _ headers: HeaderLines, _ body: ByteBuffer,
                             close: Bool, _ context: ChannelHandlerContext) {
        guard !closingForShutdown else { return }
        encoded?.write(NIOAny(IOData.byteBuffer(encode(code, reason, headers, body, context))), promise: nil)
        end(close: close, context)
    }

    /// Status line, the answer's headers, Lucair's date, server and length lines and the body, in one buffer.
    private func encode(_ code: Int, _ reason: String, _ headers: HeaderLines, _ body: ByteBuffer,
                        _ context: ChannelHandlerContext) -> ByteBuffer {
        var out = context.channel.allocator.buffer(capacity: 1536 + body.readableBytes)
        out.writeStatusLine(code, reason)
        out.writeImmutableBuffer(headers.bytes)
        out.writeHeaderLine("date", date.now())
        out.writeHeaderLine("server", LucairApp.serverName)
        out.writeHeaderLine("content-length", String(body.readableBytes))
        out.writeStaticString("\r\n")
        out.writeImmutableBuffer(body)
        return out
    }

    /// Closes the connection once what was written has left (not while its bytes still wait to be
    /// sent), after `last` (already encoded) if given.
    private func closeAfterWrites(_ context: ChannelHandlerContext, last: ByteBuffer = ByteBuffer()) {
        guard let encoded else { return context.close(promise: nil) }
        encoded.writeAndFlush(NIOAny(IOData.byteBuffer(last))).whenComplete { _ in context.close(promise: nil) }
    }

    /// Ends the answer, then carries on with what waited behind it.
    private func end(close: Bool, _ context: ChannelHandlerContext) {
        state = .idle
        answering = nil
        streamHeadSent = false
        guard !close else { return closeAfterWrites(context) }
        context.flush()
        guard context.channel.isActive else {  // nobody to answer: held requests are not served
            held.removeAll()
            return
        }
        let replaying = !held.isEmpty
        // Until a replayed chat request is being answered: one that is only being read takes its
        // body and end from `held` too.
        while !held.isEmpty, !answeringNow {
            switch held.removeFirst() {
            case .part(let part): handle(part, context)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
        if replaying { context.fireChannelReadComplete() }  // Hummingbird's async channel hands reads on at read-complete
        if readPending, !answeringNow {
            readPending = false
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let h) where h.status.code >= 200:  // 1xx heads are followed by the final one
            droppingBody = owedByHummingbird.first ?? false
        case .body where droppingBody:
            promise?.succeed()
            return
        case .end:
            if !owedByHummingbird.isEmpty { owedByHummingbird.removeFirst() }
            droppingBody = false
        default: break
        }
        context.write(data, promise: promise)
    }

    /// No more reads once something waits behind the answer: a client pipelining during a long
    /// stream waits in its socket, not in `held`. Until then reads go on, so the socket's read
    /// interest is not dropped and taken up again (two `epoll_ctl` calls) on every request.
    func read(context: ChannelHandlerContext) {
        if case .answering = state, !held.isEmpty { readPending = true } else { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutdownDeadline?.cancel()
        answering?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client whose input ends while it waits has left, as nginx and Go's server read it (the
        // channel allows half-closure, so a close arrives as this event first).
        if let e = event as? ChannelEvent, e == .inputClosed { answering?.cancel() }
        if event is ChannelShouldQuiesceEvent { armShutdownDeadline(context) }
        if busy { held.append(.event(event)) } else { context.fireUserInboundEventTriggered(event) }
    }

    /// A graceful shutdown (SIGTERM) waits for answers in flight, but not for ever: a long stream
    /// would otherwise hold the process until the orchestrator kills it, losing the usage of every
    /// answer still going. An idle connection needs nothing: Hummingbird closes it.
    func armShutdownDeadline(_ context: ChannelHandlerContext) {
        if case .idle = state, owedByHummingbird.isEmpty { return }
        guard shutdownDeadline == nil else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        shutdownDeadline = context.eventLoop.scheduleTask(in: .milliseconds(Int64(routes.gateway.config.shutdownGraceMs))) {
            let (me, context) = bound.value
            me.endForShutdown(context)
        }
    }

    /// The grace period is over: the client is told (a 503 it may retry elsewhere, or an error event
    /// ending its stream) when this path is answering, and the connection closes. Closing cancels
    /// the answer's task, which meters what was delivered as cut by the shutdown.
    func endForShutdown(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        let gateway = routes.gateway
        gateway.chat.shuttingDown.store(true, ordering: .relaxed)
        gateway.logger.warning("shutdown grace ended with an answer in flight: closing its connection",
                               metadata: ["shutdown_grace_ms": "\(gateway.config.shutdownGraceMs)"])
        let e = GatewayError.shuttingDown
        var last = ByteBuffer()
        if answeringNow, streamHeadSent {
            var event: [UInt8] = []
            e.openAIBody.writeSSE(into: &event)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: event)))), promise: nil)
            context.write(wrapOutboundOut(.end(nil)), promise: nil)
        } else if answeringNow {
            let (head, body) = e.answer(requestId: nil)  // as any error answer, and the connection closes
            var lines = HeaderLines(head.headerFields)
            lines.add("connection", "close")
            last = encode(head.status.code, head.status.reasonPhrase, lines, body, context)
        }
        closingForShutdown = true
        answering?.cancel()
        closeAfterWrites(context, last: last)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .answering: held.append(.error(error))
        case .reading:
            state = .idle  // a request that cannot be read further is Hummingbird's to refuse
            body = nil
            context.fireErrorCaught(error)
        case .idle, .passing: context.fireErrorCaught(error)
        }
    }
}

/// The `Date` header's value (RFC 9110's IMF-fixdate), formatted once a second. Written here
/// because Hummingbird's own date cache is internal to it.
struct HTTPDate {
    private var second = 0
    private var text = ""

    mutating func now() -> String {
        var t = time(nil)
        if t != second {
            second = t
            var tm = tm()
            gmtime_r(&t, &tm)
            let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"], months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
            func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
            text = "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        }
        return text
    }
}

extension ByteBuffer {
    mutating func writeStatusLine(_ code: Int, _ reason: String) {
        if code == 200 {
            writeStaticString("HTTP/1.1 200 OK\r\n")
        } else {
            writeString("HTTP/1.1 \(code) \(reason)\r\n")
        }
    }

    /// HTTPTypes' values cannot hold CR or LF, nor can `HeaderLines`' values.
    mutating func writeHeaderLine(_ name: String, _ value: String) {
        writeString(name)
        writeStaticString(": ")
        writeString(value)
        writeStaticString("\r\n")
    }
}
