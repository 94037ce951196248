import HTTPTypes
import Hummingbird
import LucairCore
import LucairWire
import NIOCore

/// Turns every error on its way out into OpenAI's error shape with the right status.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as GatewayError {
            return e.response()
        } catch let e as any HTTPResponseError {
            let g: GatewayError =
                switch e.status.code {
                case 404: .invalid("Unknown endpoint \(request.method) \(request.uri.path). Lucair serves /v1/chat/completions, /v1/models, /v1/embeddings, /health and /metrics.", code: "unknown_url", status: 404)
                case 405: .invalid("Method \(request.method) is not allowed on \(request.uri.path).", code: "method_not_allowed", status: 405)
                case 413: .bodyTooLarge
                default: GatewayError(status: Int(e.status.code), type: "invalid_request_error", message: e.status.reasonPhrase)
                }
            return g.response()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return GatewayError.internalError.response()
        }
    }
}

extension GatewayError {
    static let bodyTooLarge = GatewayError.invalid(
        "The request body is too large. Send a smaller body, or ask the operator to raise server.max_body_bytes.", code: "request_too_large", status: 413)
    /// A request the shutdown's grace period ended (`ChatFastPath.endForShutdown`): another replica may serve it.
    static let shuttingDown = GatewayError(
        status: 503, type: "server_error", code: "server_shutting_down",
        message: "This Lucair replica is shutting down and ended the request. Retry it.", retryable: true)
    static let internalError = GatewayError(
        status: 500, type: "server_error", code: "internal_error", message: "Lucair hit an internal error. The request id in x-lucair-request-id helps the operator find it.")

    func response(requestId: String? = nil) -> Response {
        let (head, body) = answer(requestId: requestId)
        return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: body))
    }

    /// The error as a whole answer: OpenAI's body, the status, and the headers it carries.
    func answer(requestId: String?) -> (HTTPResponse, ByteBuffer) {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let requestId { headers[.lucairRequestId] = requestId }
        if let r = retryAfterSeconds { headers[.retryAfter] = String(r) }
        for (k, v) in self.headers { if let name = HTTPField.Name(k) { headers[name] = v } }
        return (HTTPResponse(status: .init(code: status), headerFields: headers), ByteBuffer(bytes: openAIBody.serialized()))
    }
}

extension HTTPField.Name {
    static let lucairRequestId = Self("x-lucair-request-id")!
    static let lucairTier = Self("x-lucair-tier")!
    static let lucairModel = Self("x-lucair-model")!
    static let lucairDeployment = Self("x-lucair-deployment")!
    static let lucairRouteReason = Self("x-lucair-route-reason")!
    static let lucairRouteScore = Self("x-lucair-route-score")!
    static let lucairRouteConfidence = Self("x-lucair-route-confidence")!
    static let lucairRouteTask = Self("x-lucair-route-task")!
    static let lucairRouteReasoning = Self("x-lucair-route-reasoning")!
    static let lucairRouteBar = Self("x-lucair-route-quality-bar")!
    static let lucairRouteP = Self("x-lucair-route-p-tier-ok")!
    static let lucairRouterVersion = Self("x-lucair-router-version")!
    /// Request header: the quality bar for this request (0…1), over the key's and the plan's.
    static let lucairQualityBar = Self("x-lucair-quality-bar")!
    static let lucairCostUSD = Self("x-lucair-cost-usd")!
    static let lucairCostNano = Self("x-lucair-cost-nano-usd")!
    static let lucairOverheadMicros = Self("x-lucair-overhead-us")!
    static let lucairInputTokens = Self("x-lucair-input-tokens")!
    static let lucairCachedInputTokens = Self("x-lucair-cached-input-tokens")!
    static let lucairCacheWriteTokens = Self("x-lucair-cache-write-tokens")!
    static let lucairOutputTokens = Self("x-lucair-output-tokens")!
    static let lucairReasoningTokens = Self("x-lucair-reasoning-tokens")!
    static let lucairEstimated = Self("x-lucair-usage-estimated")!
}
