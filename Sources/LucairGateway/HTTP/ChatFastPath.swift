import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Serves `POST /v1/chat/completions` straight off the connection's pipeline, in front of
/// Hummingbird's router: the body is gathered on the event loop, one task runs `Routes.chatAnswer`,
/// and the answer is written back on the loop. Profiles showed Hummingbird's per-request machinery
/// (the async channel's inbound stream and writer, the router, request and response wrappers) as a
/// large share of Lucair's CPU per request; this path skips it for the one endpoint that carries
/// the load. Every other request passes through untouched.
///
/// HTTP/1.1 allows pipelining, so answers must leave in request order: a chat request that arrives
/// while Hummingbird still owes an answer goes to Hummingbird too (its route serves it the same
/// way), and whatever arrives while this path is answering waits here until it is done.
///
/// Being first on the pipeline, it also answers `Expect: 100-continue` for every endpoint, and
/// cancels the answering task when the client leaves.
final class ChatFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    enum State {
        case idle
        /// Passing a request's parts on to Hummingbird.
        case passing
        /// Gathering a chat request's body into `body`.
        case reading(HTTPRequest, ContinuousClock.Instant)
        case answering
    }

    let routes: Routes
    let maxBody: Int
    var state = State.idle
    /// The body being gathered; nil once it is over the limit (the rest is dropped, the answer is a 413).
    var body: ByteBuffer?
    /// Requests passed to Hummingbird whose answer has not ended yet.
    var owedByHummingbird = 0
    /// What arrived while a chat request was read or answered, replayed once the answer is out:
    /// later requests, events (a graceful shutdown, the client's half-close) and, while answering,
    /// errors, on which Hummingbird, which knows nothing of the chat request, would close the
    /// connection under it. Reads pause once something is held (`read`), so this stays small.
    enum Held { case part(HTTPRequestPart), event(Any), error(any Error) }
    var held = CircularBuffer<Held>()
    var readPending = false
    var date = HTTPDate()
    /// The task answering the current chat request: cancelled when the client leaves, which
    /// cancels the upstream call (a long generation nobody will read stops costing GPU time).
    var answering: Task<Void, Never>?

    init(routes: Routes) {
        self.routes = routes
        self.maxBody = routes.gateway.config.maxBodyBytes
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

    private func handle(_ part: HTTPRequestPart, _ context: ChannelHandlerContext) {
        switch (state, part) {
        case (.answering, _):
            held.append(.part(part))
        case (.idle, .head(let head)):
            // curl asks before sending a large body (an image in base64 passes 1 MB) and waits a
            // second for this before sending it anyway; Hummingbird does not answer it, so this
            // does, for every endpoint, when no earlier answer is still owed.
            if owedByHummingbird == 0, head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
            if owedByHummingbird == 0, head.method == .post, head.path == "/v1/chat/completions" {
                state = .reading(head, .now)
                body = context.channel.allocator.buffer(capacity: 0)
            } else {
                owedByHummingbird += 1
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

    private func answer(_ head: HTTPRequest, _ body: ByteBuffer?, _ received: ContinuousClock.Instant, _ context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let routes = self.routes
        let address = context.channel.remoteAddress
        let close = head.headerFields[.connection].map { $0.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" } } ?? false
        answering = Task {
            switch await routes.chatAnswer(head, remoteAddress: address, body: body, received: received) {
            case .whole(let response, let bytes):
                loop.execute {
                    let (me, context) = bound.value
                    me.writeHead(response, contentLength: bytes.readableBytes, context)
                    context.write(me.wrapOutboundOut(.body(bytes)), promise: nil)
                    me.end(close: close, context)
                }
            case .stream(let response, let opened):
                loop.execute {
                    let (me, context) = bound.value
                    me.writeHead(response, contentLength: nil, context)
                    context.flush()
                }
                await routes.gateway.chat.pump(opened) { bytes in
                    try await loop.flatSubmit {
                        let (me, context) = bound.value
                        return context.writeAndFlush(me.wrapOutboundOut(.body(ByteBuffer(bytes: bytes))))
                    }.get()
                }
                loop.execute {
                    let (me, context) = bound.value
                    me.end(close: close, context)
                }
            }
        }
    }

    private func writeHead(_ response: HTTPResponse, contentLength: Int?, _ context: ChannelHandlerContext) {
        var response = response
        response.headerFields.append(HTTPField(name: .date, value: date.now()))  // names the answer does not carry yet
        response.headerFields.append(HTTPField(name: .server, value: LucairApp.serverName))
        if let contentLength { response.headerFields.append(HTTPField(name: .contentLength, value: String(contentLength))) }
        context.write(wrapOutboundOut(.head(response)), promise: nil)
    }

    /// Ends the answer, then carries on with what waited behind it.
    private func end(close: Bool, _ context: ChannelHandlerContext) {
        state = .idle
        answering = nil
        guard !close else {
            // Closed once the answer has left, not while its bytes still wait to be sent.
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        guard context.channel.isActive else {  // nobody to answer: held requests are not served
            held.removeAll()
            return
        }
        let replaying = !held.isEmpty
        while !held.isEmpty, !busy {
            switch held.removeFirst() {
            case .part(let part): handle(part, context)
            case .event(let event): context.fireUserInboundEventTriggered(event)
            case .error(let error): context.fireErrorCaught(error)
            }
        }
        if replaying { context.fireChannelReadComplete() }  // Hummingbird's async channel hands reads on at read-complete
        if readPending, !busy {
            readPending = false
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { owedByHummingbird = max(0, owedByHummingbird - 1) }
        context.write(data, promise: promise)
    }

    /// No more reads once something waits behind the answer: a client pipelining during a long
    /// stream waits in its socket, not in `held`. Until then reads go on, so the socket's read
    /// interest is not dropped and taken up again (two `epoll_ctl` calls) on every request.
    func read(context: ChannelHandlerContext) {
        if case .answering = state, !held.isEmpty { readPending = true } else { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        answering?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A client whose input ends while it waits has left, as nginx and Go's server read it (the
        // channel allows half-closure, so a close arrives as this event first).
        if let e = event as? ChannelEvent, e == .inputClosed { answering?.cancel() }
        if busy { held.append(.event(event)) } else { context.fireUserInboundEventTriggered(event) }
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
