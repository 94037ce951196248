import Hummingbird
import NIOCore

/// The request context: Hummingbird's core plus the client's address (for key IP allow-lists).
public struct LucairContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
