import AsyncHTTPClient
import LucairCore
import LucairWire
import NIOCore

/// One call to one deployment.
public struct UpstreamCall: Sendable {
    public var request: ChatRequest
    public var deployment: Deployment
    public var envelope: ChunkEnvelope

    public init(request: ChatRequest, deployment: Deployment, envelope: ChunkEnvelope) {
        self.request = request
        self.deployment = deployment
        self.envelope = envelope
    }
}

/// The one protocol every upstream kind implements (one file per kind). Results are already in
/// OpenAI's shape; errors are `GatewayError`s that say whether another deployment may succeed.
public protocol ChatProvider: Sendable {
    /// A non-streaming completion and its usage (nil when the engine reported none).
    func complete(_ call: UpstreamCall) async throws -> (JSONValue, TokenUsage?)
    /// Opens a stream. Returns once the upstream has answered with success headers, so the caller
    /// can still fall through to another deployment if this throws.
    func stream(_ call: UpstreamCall) async throws -> UpstreamStream
}

/// Decodes one upstream's SSE events into OpenAI chunks.
public protocol StreamDecoder: Sendable {
    mutating func decode(_ event: SSEEvent) throws -> [StreamPiece]
    /// Called when the body ends; throws if the stream ended before the upstream said it was done.
    func end() throws
}

/// A streamed upstream answer as OpenAI chunks, pulled straight from the HTTP body: no extra task,
/// natural back-pressure, and dropping the iterator cancels the upstream request.
public struct UpstreamStream: AsyncSequence, Sendable {
    public typealias Element = StreamPiece
    let body: Body
    let decoder: any StreamDecoder
    let deployment: String

    /// Where the bytes come from: `KeepAliveClient` (plain HTTP) or AsyncHTTPClient (HTTPS).
    enum Body: Sendable {
        case lean(KeepAliveClient.StreamBody)
        case client(HTTPClientResponse.Body)

        enum Iterator {
            case lean(KeepAliveClient.StreamBody.AsyncIterator)
            case client(HTTPClientResponse.Body.AsyncIterator)

            mutating func next() async throws -> ByteBuffer? {
                switch self {
                case .lean(var it):
                    defer { self = .lean(it) }
                    return try await it.next()
                case .client(var it):
                    defer { self = .client(it) }
                    return try await it.next()
                }
            }
        }

        func makeAsyncIterator() -> Iterator {
            switch self {
            case .lean(let b): .lean(b.makeAsyncIterator())
            case .client(let b): .client(b.makeAsyncIterator())
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(body: body.makeAsyncIterator(), decoder: decoder, deployment: deployment)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var body: Body.Iterator
        var decoder: any StreamDecoder
        let deployment: String
        var parser = SSEParser()
        var pending: [StreamPiece] = []
        var cursor = 0
        var finished = false
        /// What ended the stream, thrown once the pieces decoded before it are taken: one read
        /// can bring content and then an error event, and the content must still reach the client.
        var failure: (any Error)?

        /// Pieces decoded from bytes already received: the caller can take them without waiting,
        /// and write them to the client together.
        public var hasBuffered: Bool { cursor < pending.count }

        public mutating func next() async throws -> StreamPiece? {
            while true {
                if cursor < pending.count {
                    cursor += 1
                    return pending[cursor - 1]
                }
                pending.removeAll(keepingCapacity: true)
                cursor = 0
                if let failure {
                    self.failure = nil
                    throw failure
                }
                if finished { return nil }
                let buffer: ByteBuffer?
                do {
                    buffer = try await body.next()
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    throw UpstreamErrors.streamBroken(deployment: deployment, detail: "\(error)")
                }
                guard let buffer else {
                    finished = true
                    if let e = parser.finish() { take([e]) }
                    if failure == nil {
                        do { try decoder.end() } catch { failure = error }
                    }
                    continue
                }
                take(buffer.withUnsafeReadableBytes { parser.feed($0) })
            }
        }

        /// Decodes events into `pending` up to the first that fails the stream.
        mutating func take(_ events: [SSEEvent]) {
            for e in events {
                do { pending.append(contentsOf: try decode(e)) } catch {
                    failure = error
                    finished = true
                    return
                }
            }
        }

        mutating func decode(_ e: SSEEvent) throws -> [StreamPiece] {
            do {
                return try decoder.decode(e)
            } catch let e as UpstreamStreamError {
                throw UpstreamErrors.fromStreamEvent(e, deployment: deployment)
            }
        }
    }
}
