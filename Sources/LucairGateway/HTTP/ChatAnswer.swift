import HTTPTypes
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// What `/v1/chat/completions` answers: a whole body (an error's, or a 200's with its headers
/// already as HTTP/1 lines), or a stream's head and the stream to pump.
enum ChatAnswer: Sendable {
    case whole(HTTPResponse, ByteBuffer)
    case ok(HeaderLines, ByteBuffer)
    case stream(HTTPResponse, ChatService.OpenedStream)
}

/// What the chat endpoint reads from a request's head: taken from NIOHTTP1's head on the fast path
/// (no conversion to HTTPTypes) and from Hummingbird's request on its route.
struct ChatHead: Sendable {
    var authorization: String?
    var contentType: String?
    var qualityBar: String?
    var path: String

    init(_ head: HTTPRequestHead) {
        authorization = head.headers.first(name: "authorization")
        contentType = head.headers.first(name: "content-type")
        qualityBar = head.headers.first(name: HTTPField.Name.lucairQualityBar.rawName)
        path = head.uri
    }

    init(_ head: HTTPRequest) {
        authorization = head.headerFields[.authorization]
        contentType = head.headerFields[.contentType]
        qualityBar = head.headerFields[.lucairQualityBar]
        path = head.path ?? ""
    }
}

extension Routes {
    /// The chat completions endpoint with no server framework around it: the request's head, the
    /// client's address and the whole body (nil: over `max_body_bytes`) in, the answer out. Both
    /// `ChatFastPath` and Hummingbird's route call it, so the two cannot drift apart.
    func chatAnswer(_ head: ChatHead, remoteAddress: SocketAddress?, body: ByteBuffer?, received: ContinuousClock.Instant) async -> ChatAnswer {
        var requestId: String?
        do {
            let principal = try authenticate(authorization: head.authorization, path: head.path, remoteIP: remoteAddress?.ipAddress,
                                             endpoint: "chat.completions")
            try checkJSONContentType(head.contentType)
            guard let body else { throw GatewayError.bodyTooLarge }
            let json = try parseJSON(body)
            let chat: ChatRequest
            do { chat = try ChatRequest.parse(json) } catch { throw GatewayError(error) }
            let id = APIKeys.timeOrderedId("req")
            requestId = id
            let bar = try qualityBar(head.qualityBar)
            if chat.stream {
                let opened = try await gateway.chat.openStream(chat, principal: principal, requestId: id, qualityBar: bar)
                var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
                served(opened.servedBy, into: &headers)
                overhead(since: received, upstream: opened.servedBy.upstreamTime, timer: gateway.metrics.overheadStreamOpen, into: &headers)
                return .stream(HTTPResponse(status: .ok, headerFields: headers), opened)
            }
            let (out, servedBy, bill) = try await gateway.chat.complete(chat, principal: principal, requestId: id, qualityBar: bar)
            var headers = HeaderLines()
            headers.add(.contentType, "application/json")
            served(servedBy, into: &headers)
            billed(bill, into: &headers)
            let bytes = ByteBuffer(bytes: out)
            overhead(since: received, upstream: servedBy.upstreamTime, timer: gateway.metrics.overheadComplete, into: &headers)
            return .ok(headers, bytes)
        } catch where Task.isCancelled {
            return .whole(HTTPResponse(status: .init(code: 499)), ByteBuffer())  // the client left: nobody reads this
        } catch {
            let e = error as? GatewayError ?? {
                gateway.logger.error("unexpected error", metadata: ["error": "\(error)", "request_id": "\(requestId ?? "")"])
                return GatewayError.internalError
            }()
            let (head, body) = e.answer(requestId: requestId)
            return .whole(head, body)
        }
    }
}
