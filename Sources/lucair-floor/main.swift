import Foundation
import LucairUpstreams
import NIOCore
import NIOHTTP1
import NIOPosix

// The floor under Lucair's request path, for bench/floor.sh: the same building blocks with none of
// the work. A NIO HTTP/1 server gathers each request's body on the event loop, one task posts it
// through `KeepAliveClient` to the upstream, and the answer is written back on the loop. No
// authentication, limits, routing, JSON, metering or Hummingbird.
//
// Usage: lucair-floor [--raw | --raw-task | --raw-client] PORT UPSTREAM_URL   (RawForward.swift: --raw
// without NIOHTTP1 or a task; --raw-task with a task; --raw-client without NIOHTTP1's server side only)
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let raw = CommandLine.arguments.contains { $0.hasPrefix("--raw") }
let rawClient = CommandLine.arguments.contains("--raw-client")
let rawTask = CommandLine.arguments.contains("--raw-task")
let arguments = CommandLine.arguments.filter { !$0.hasPrefix("--raw") }
guard arguments.count == 3, let port = Int(arguments[1]) else {
    print("usage: lucair-floor [--raw | --raw-task | --raw-client] PORT UPSTREAM_URL")
    exit(2)
}
let upstream = arguments[2]
// The raw variants talk to host:port themselves: an upstream they cannot split is refused, not
// quietly served by the plain floor.
let rawTarget = URL(string: upstream).flatMap { u in u.host.flatMap { h in u.port.map { (host: h, port: $0, path: u.path) } } }
if raw && rawTarget == nil {
    print("lucair-floor: --raw needs an upstream URL with a host and a port, such as http://127.0.0.1:8000/v1/chat/completions")
    exit(2)
}
let client = KeepAliveClient()

final class Forward: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    var body = ByteBuffer()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: body.clear()
        case .body(var chunk): body.writeBuffer(&chunk)
        case .end:
            let bytes = Array(body.readableBytesView)
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            Task {
                let answer = try? await client.post(url: upstream, headers: [], body: bytes, connectTimeout: .seconds(1),
                                                    idleTimeout: .seconds(10), deadline: .now() + .seconds(10))
                loop.execute {
                    let (me, context) = bound.value
                    let payload = answer?.body ?? ByteBuffer()
                    var headers = HTTPHeaders()
                    headers.add(name: "content-type", value: "application/json")
                    headers.add(name: "content-length", value: String(payload.readableBytes))
                    let status: HTTPResponseStatus = answer == nil ? .badGateway : .ok
                    context.write(me.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                    context.write(me.wrapOutboundOut(.body(.byteBuffer(payload))), promise: nil)
                    context.writeAndFlush(me.wrapOutboundOut(.end(nil)), promise: nil)
                }
            }
        }
    }
}

let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            if raw, let t = rawTarget {
                try channel.pipeline.syncOperations.addHandler(RawForward(host: t.host, port: t.port, path: t.path, client: rawClient ? client : nil, task: rawTask))
            } else {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(Forward())
            }
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
print("lucair-floor listening on \(server.localAddress!)")
fflush(nil)  // every stream: bench/lib.sh waits for this line in a file
try await server.closeFuture.get()
