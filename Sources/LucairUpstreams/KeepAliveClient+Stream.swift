import NIOCore
import NIOHTTP1

extension KeepAliveClient {
    /// A streamed body: one buffer per socket read (every chunk that read brought), so the reader
    /// decodes and forwards what arrived together in one go. Back-pressure: reads stop while 8
    /// buffers wait, and resume below 2.
    public typealias StreamBody = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, StreamDelegate>

    public enum Streamed: Sendable {
        /// A 200: the body is still coming.
        case streaming(status: Int, headers: HTTPHeaders, body: StreamBody)
        /// Any other status (an error to map), with its whole body.
        case whole(Response)
    }

    public struct StreamDelegate: NIOAsyncSequenceProducerDelegate {
        let more: @Sendable () -> Void
        let gone: @Sendable () -> Void
        public func produceMore() { more() }
        public func didTerminate() { gone() }
    }

    /// Sends a request whose answer streams; returns once its head is in (within `headDeadline`).
    /// From then on only `idleTimeout` bounds the silences between reads.
    public func stream(url: String, headers: [(String, String)], body: [UInt8],
                       connectTimeout: TimeAmount, idleTimeout: TimeAmount, headDeadline: NIODeadline) async throws -> Streamed {
        let (channel, head) = try await open(url: url, headers: headers, bodyCount: body.count, connectTimeout: connectTimeout)
        let promise = channel.eventLoop.makePromise(of: Streamed.self)
        let exchange = Exchange(head: head, body: channel.allocator.buffer(bytes: body), answer: .stream(promise),
                                idleTimeout: idleTimeout, deadline: headDeadline)
        channel.writeAndFlush(exchange, promise: nil)
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
