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
        try await send(url: url, headers: headers, body: body, connectTimeout: connectTimeout, idleTimeout: idleTimeout, deadline: headDeadline) { .stream($0) }
    }
}
