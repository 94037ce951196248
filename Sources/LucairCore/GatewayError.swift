import LucairWire

/// An error on its way to a client, in OpenAI's shape, that remembers where it came from and
/// whether trying again (elsewhere) may help.
public struct GatewayError: Error, Sendable {
    public enum Origin: Sendable, Equatable {
        case client
        case gateway
        case upstream(deployment: String)
    }

    public var status: Int
    public var type: String
    public var code: String?
    public var param: String?
    public var message: String
    public var origin: Origin
    /// Another deployment or tier may succeed where this one failed.
    public var retryable: Bool
    public var retryAfterSeconds: Int?
    /// Extra response headers (rate-limit state on a 429).
    public var headers: [(String, String)] = []

    public init(status: Int, type: String, code: String? = nil, param: String? = nil, message: String,
                origin: Origin = .gateway, retryable: Bool = false, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.message = message
        self.origin = origin
        self.retryable = retryable
        self.retryAfterSeconds = retryAfterSeconds
    }

    public init(_ e: InvalidRequest) {
        self.init(status: e.status, type: "invalid_request_error", code: e.code, param: e.param, message: e.message, origin: .client)
    }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil, status: Int = 400) -> GatewayError {
        GatewayError(status: status, type: "invalid_request_error", code: code, param: param, message: message, origin: .client)
    }

    public static let missingKey = GatewayError(
        status: 401, type: "invalid_request_error", code: "missing_api_key",
        message: "You didn't provide an API key. Send it as 'Authorization: Bearer sk-luc-…'.", origin: .client)
    public static let invalidKey = GatewayError(
        status: 401, type: "invalid_request_error", code: "invalid_api_key",
        message: "Incorrect API key provided. Check the key, or ask your Lucair operator for a new one.", origin: .client)

    public var openAIBody: JSONValue {
        ["error": [
            "message": .string(message), "type": .string(type),
            "param": param.map { .string($0) } ?? .null, "code": code.map { .string($0) } ?? .null,
        ]]
    }
}

/// Removes anything that looks like a credential from upstream text before it reaches a client or a log.
public enum Redact {
    public static func secrets(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        var word = ""
        func flush() {
            let lower = word.lowercased()
            if word.count >= 16, lower.hasPrefix("sk-") || lower.hasPrefix("bearer") || lower.hasPrefix("key-") || lower.hasPrefix("rk_") {
                out += String(word.prefix(3)) + "…[redacted]"
            } else {
                out += word
            }
            word = ""
        }
        for ch in s {
            if ch.isWhitespace || ch == "\"" || ch == "'" || ch == "," {
                flush()
                out.append(ch)
            } else {
                word.append(ch)
            }
        }
        flush()
        return String(out.prefix(2000))
    }
}
