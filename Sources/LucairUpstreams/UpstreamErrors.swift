import AsyncHTTPClient
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// Maps what an upstream said or did to a client-facing error that knows whether a retry elsewhere
/// may help. Upstream credentials problems are the operator's, not the client's: they become 502s.
public enum UpstreamErrors {
    public static func fromResponse(status: Int, body: ByteBuffer?, headers: HTTPHeaders, deployment: String) -> GatewayError {
        let json = body.flatMap { try? JSON.parse(bytes: $0.readableBytesView) }
        // OpenAI: {"error": {"message", "type", ...}}; Anthropic: {"type": "error", "error": {"type", "message"}}.
        let upstreamType = json?["error"]?["type"]?.stringValue
        let raw = json?["error"]?["message"]?.stringValue ?? json?["error"]?.stringValue ?? body.map { String(buffer: $0) } ?? ""
        let message = Redact.secrets(raw.isEmpty ? "HTTP \(status)" : raw)
        let retryAfter = headers.first(name: "retry-after").flatMap { Int($0) }
        let origin = GatewayError.Origin.upstream(deployment: deployment)
        switch status {
        case 400, 404, 413, 422:
            if status == 404 && upstreamType == "not_found_error" {
                return GatewayError(status: 502, type: "upstream_error", code: "upstream_model_not_found",
                                    message: "Deployment '\(deployment)' does not know its configured model (\(message)). Operator: check upstream_model.", origin: origin, retryable: true)
            }
            return GatewayError(status: status == 422 ? 400 : status, type: "invalid_request_error", code: upstreamType,
                                message: "The model's server rejected the request: \(message)", origin: origin)
        case 401, 403:
            return GatewayError(status: 502, type: "upstream_error", code: "upstream_auth_failed",
                                message: "Deployment '\(deployment)' refused Lucair's credentials. Operator: check its api_key.", origin: origin, retryable: true)
        case 408:
            return GatewayError(status: 504, type: "upstream_error", code: "upstream_timeout", message: "Deployment '\(deployment)' timed out.", origin: origin, retryable: true)
        case 429:
            return GatewayError(status: 429, type: "rate_limit_error", code: "upstream_rate_limited",
                                message: "The model's provider is rate limiting: \(message)", origin: origin, retryable: true, retryAfterSeconds: retryAfter)
        case 529:
            return GatewayError(status: 503, type: "upstream_error", code: "upstream_overloaded",
                                message: "The model's provider is overloaded: \(message)", origin: origin, retryable: true, retryAfterSeconds: retryAfter)
        default:
            return GatewayError(status: status >= 500 ? 502 : status, type: "upstream_error", code: "upstream_error",
                                message: "Deployment '\(deployment)' failed with HTTP \(status): \(message)", origin: origin, retryable: status >= 500)
        }
    }

    public static func transport(_ error: any Error, deployment: String) -> GatewayError {
        let origin = GatewayError.Origin.upstream(deployment: deployment)
        if isTimeout(error) {
            return GatewayError(status: 504, type: "upstream_error", code: "upstream_timeout",
                                message: "Deployment '\(deployment)' did not answer in time.", origin: origin, retryable: true)
        }
        return GatewayError(status: 502, type: "upstream_error", code: "upstream_unreachable",
                            message: "Deployment '\(deployment)' could not be reached.", origin: origin, retryable: true)
    }

    static func isTimeout(_ error: any Error) -> Bool {
        switch error {
        case let e as HTTPClientError: e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout
        case let e as KeepAliveClient.Failure: e == .timeout
        case let e as ChannelError: if case .connectTimeout = e { true } else { false }
        default: false
        }
    }

    static func streamBroken(deployment: String, detail: String) -> GatewayError {
        GatewayError(status: 502, type: "upstream_error", code: "upstream_stream_broken",
                     message: "Deployment '\(deployment)' broke off the stream.", origin: .upstream(deployment: deployment), retryable: true)
    }

    static func fromStreamEvent(_ e: UpstreamStreamError, deployment: String) -> GatewayError {
        let overloaded = e.type == "overloaded_error"
        return GatewayError(status: overloaded ? 503 : 502, type: "upstream_error", code: overloaded ? "upstream_overloaded" : "upstream_error",
                            message: "The model's provider reported an error mid-stream: \(Redact.secrets(e.message))",
                            origin: .upstream(deployment: deployment), retryable: true)
    }
}
