import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel with `ChatFastPath` placed right after NIO's request decoder,
/// ahead of the conversion to HTTPTypes: a chat request is served from NIOHTTP1's head and its
/// answer written as bytes, so neither direction pays for the conversion (about a tenth of Lucair's
/// CPU per request in profiles). Everything else reaches Hummingbird as `.http1()` would deliver it.
///
/// The encoder and decoder are added by hand, not by `configureHTTPServerPipeline`, which pairs
/// them to frame answers to HEAD requests: the encoder would expect an answer through it for every
/// request, and the fast path's bypass it. Hummingbird strips bodies from HEAD answers itself.
struct LucairHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>
    let responder: HTTPChannelHandler.Responder
    let routes: Routes

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Hummingbird's own limits on a request's headers (`.http1()` passes the same).
            let hb = HTTP1Channel.Configuration().httpDecoder
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = hb.maxHeaderFieldSize
            limits.maxHeaderListSize = hb.maxHeaderListSize
            limits.maxHeaderFieldCount = hb.maxHeaderFieldCount
            try channel.pipeline.syncOperations.addHandlers([
                HTTPResponseEncoder(configuration: .init()),
                ByteToMessageHandler(HTTPRequestDecoder(limitConfiguration: limits)),
                ChatFastPath(routes: routes),
                HTTP1ToHTTPServerCodec(secure: false),
                HTTPConnectionStateHandler(idleTimeout: nil, logger: logger),
            ])
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
