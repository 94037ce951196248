import LucairUpstreams
import NIOCore
import NIOPosix

// `lucair-floor --raw`: the floor with less under it, to measure what NIOHTTP1 and a Swift task per
// request cost on their own. Bytes in, bytes out on the event loop: a request's head is scanned for
// its Content-Length by hand, the body is posted on one keep-alive connection per client connection
// (same loop), and the upstream's answer, framed by its Content-Length, goes back in one write. No
// HTTP library, no task, no validation: a benchmark instrument for well-formed, unpipelined,
// Content-Length traffic (wrk's and the fake's), not a server. Hand-written because measuring
// what the listed packages cost needs a path without them.

/// The end of the head (the index just past CRLF CRLF) and its Content-Length, once a whole head is in `buffer`.
func scanHead(_ buffer: ByteBuffer) -> (end: Int, length: Int)? {
    buffer.withUnsafeReadableBytes { bytes -> (Int, Int)? in
        guard bytes.count >= 4 else { return nil }
        var end = -1
        for i in 3..<bytes.count where bytes[i] == 10 && bytes[i - 1] == 13 && bytes[i - 2] == 10 && bytes[i - 3] == 13 {
            end = i + 1
            break
        }
        guard end > 0 else { return nil }
        // Each header line: compare its name with "content-length" ignoring ASCII case.
        let name = Array("content-length:".utf8)
        var line = 0
        while line < end {
            var next = line
            while next < end, bytes[next] != 10 { next += 1 }
            if next - line > name.count, (0..<name.count).allSatisfy({ bytes[line + $0] | 0x20 == name[$0] | 0x20 }) {
                var n = 0, i = line + name.count
                while i < next, bytes[i] == 32 { i += 1 }
                while i < next, bytes[i] >= 48, bytes[i] <= 57 { n = n * 10 + Int(bytes[i] - 48); i += 1 }
                return (end, n)
            }
            line = next + 1
        }
        return (end, 0)
    }
}

/// Adds `part` to what came so far; once a whole message is in, takes it out and returns its body.
func takeBody(_ pending: inout ByteBuffer, _ part: ByteBuffer) -> ByteBuffer? {
    var part = part
    pending.writeBuffer(&part)
    guard let (end, length) = scanHead(pending), pending.readableBytes >= end + length else { return nil }
    pending.moveReaderIndex(forwardBy: end)
    let body = pending.readSlice(length: length)!
    pending.discardReadBytes()
    return body
}

/// Reads the upstream's answers and hands each whole body to the waiting client handler; nil when
/// the connection ends first.
final class RawUpstream: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var pending = ByteBuffer()
    var answer: ((ByteBuffer?) -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let body = takeBody(&pending, unwrapInboundIn(data)) else { return }
        deliver(body)
    }

    func deliver(_ body: ByteBuffer?) {
        let waiting = answer
        answer = nil
        waiting?(body)
    }

    func channelInactive(context: ChannelHandlerContext) { deliver(nil) }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

final class RawForward: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let host: String, port: Int, path: String
    /// `--raw-client`: the request read by hand, then posted from a task through `KeepAliveClient`
    /// as the plain floor does, so the two floors differ by NIOHTTP1's server side alone.
    let client: KeepAliveClient?
    /// `--raw-task`: forwarded by hand, but from a task that waits for the answer as the floor's
    /// task waits for `KeepAliveClient`, so `--raw-client` and this differ by the client alone.
    let task: Bool
    var pending = ByteBuffer()
    var upstream: (Channel, RawUpstream)?

    init(host: String, port: Int, path: String, client: KeepAliveClient?, task: Bool) {
        self.host = host
        self.port = port
        self.path = path
        self.client = client
        self.task = task
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let body = takeBody(&pending, unwrapInboundIn(data)) else { return }
        var request = context.channel.allocator.buffer(capacity: 160 + body.readableBytes)
        request.writeString("POST \(path) HTTP/1.1\r\nhost: \(host):\(port)\r\ncontent-type: application/json\r\ncontent-length: \(body.readableBytes)\r\n\r\n")
        request.writeImmutableBuffer(body)
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        // No answer (the upstream left or could not be reached) is a 502, so wrk counts it as failed.
        let answer: (ByteBuffer?) -> Void = { body in
            let (me, context) = bound.value
            guard let body else {
                me.upstream = nil
                context.writeAndFlush(me.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")), promise: nil)
                return
            }
            var out = context.channel.allocator.buffer(capacity: 96 + body.readableBytes)
            out.writeString("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: \(body.readableBytes)\r\n\r\n")
            out.writeImmutableBuffer(body)
            context.writeAndFlush(me.wrapOutboundOut(out), promise: nil)
        }
        if let client {
            let bytes = Array(body.readableBytesView), url = "http://\(host):\(port)\(path)"
            Task {
                let reply = try? await client.post(url: url, headers: [], body: bytes, connectTimeout: .seconds(1),
                                                   idleTimeout: .seconds(10), deadline: .now() + .seconds(10))
                loop.execute { answer(reply?.status == 200 ? reply?.body : nil) }
            }
            return
        }
        if task {
            let send = NIOLoopBound({ (deliver: @escaping (ByteBuffer?) -> Void) in
                let (me, context) = bound.value
                me.forward(request, context, deliver)
            }, eventLoop: loop)
            Task {
                let reply = await withCheckedContinuation { (c: CheckedContinuation<ByteBuffer?, Never>) in
                    loop.execute { send.value { c.resume(returning: $0) } }
                }
                loop.execute { answer(reply) }
            }
            return
        }
        forward(request, context, answer)
    }

    /// Posts `request` on this connection's upstream channel (opened on first use, on this loop).
    func forward(_ request: ByteBuffer, _ context: ChannelHandlerContext, _ answer: @escaping (ByteBuffer?) -> Void) {
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        if let (channel, handler) = upstream {
            handler.answer = answer
            channel.writeAndFlush(request, promise: nil)
            return
        }
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RawUpstream()) }
            }
            .connect(host: host, port: port)
            .assumeIsolated()
            .whenComplete { result in
                let me = bound.value
                guard case .success(let channel) = result, context.channel.isActive,
                      let handler = try? channel.pipeline.syncOperations.handler(type: RawUpstream.self) else {
                    if case .success(let channel) = result { channel.close(promise: nil) }  // the client left meanwhile
                    answer(nil)
                    return
                }
                me.upstream = (channel, handler)
                handler.answer = answer
                channel.writeAndFlush(request, promise: nil)
            }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.0.close(promise: nil)
        upstream = nil
    }
}
