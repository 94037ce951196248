import AsyncHTTPClient
import Foundation
import LucairWire
import NIOCore
import NIOHTTP1

/// An error from Stripe (or from reaching it), carrying whether trying again can help.
public struct StripeError: Error, Sendable, CustomStringConvertible {
    /// HTTP status; 0 when Stripe could not be reached.
    public var status: Int
    /// Stripe's `error.type` (`card_error`, `invalid_request_error`, `idempotency_error`, `api_error`…).
    public var type: String
    /// Stripe's `error.code` (`card_declined`, `authentication_required`…), if any.
    public var code: String?
    public var declineCode: String?
    public var message: String
    /// The PaymentIntent a card error belongs to, if Stripe returned it.
    public var paymentIntent: JSONValue?

    /// Network failures, 429 and 5xx: the same request (same Idempotency-Key) may be sent again.
    public var retryable: Bool { status == 0 || status == 429 || status >= 500 }
    public var description: String { "Stripe \(status) \(type)\(code.map { " (\($0))" } ?? ""): \(message)" }
}

/// Stripe's REST API over AsyncHTTPClient: form-encoded requests, JSON answers, the secret key as a
/// bearer token, an Idempotency-Key on every POST (retries of a POST reuse it, so Stripe applies the
/// request once).
public struct StripeClient: Sendable {
    public let base: String
    let secretKey: String
    let http: HTTPClient
    public static let apiVersion = "2024-06-20"

    public init(base: String, secretKey: String, http: HTTPClient) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.secretKey = secretKey
        self.http = http
    }

    public func post(_ path: String, _ form: [(String, StripeForm.Value)], idempotencyKey: String) async throws -> JSONValue {
        try await send(.POST, path, body: StripeForm.encode(form), idempotencyKey: idempotencyKey)
    }

    public func get(_ path: String, query: [(String, StripeForm.Value)] = []) async throws -> JSONValue {
        try await send(.GET, query.isEmpty ? path : path + "?" + StripeForm.encode(query), body: nil, idempotencyKey: nil)
    }

    /// Every page of a list endpoint (`has_more` / `starting_after`).
    public func list(_ path: String, query: [(String, StripeForm.Value)] = []) async throws -> [JSONValue] {
        var out: [JSONValue] = []
        var after: String?
        while true {
            var q = query + [("limit", "100")]
            if let after { q.append(("starting_after", .string(after))) }
            let page = try await get(path, query: q)
            let data = page["data"]?.arrayValue ?? []
            out += data
            guard page["has_more"]?.boolValue == true, let last = data.last?["id"]?.stringValue else { return out }
            after = last
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: String?, idempotencyKey: String?) async throws -> JSONValue {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await once(method, path, body: body, idempotencyKey: idempotencyKey)
            } catch let error as StripeError {
                // GETs and keyed POSTs are safe to repeat; Stripe asks clients to retry these.
                guard error.retryable, attempt < 3 else { throw error }
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    func once(_ method: HTTPMethod, _ path: String, body: String?, idempotencyKey: String?) async throws -> JSONValue {
        var req = HTTPClientRequest(url: base + path)
        req.method = method
        req.headers.add(name: "Authorization", value: "Bearer \(secretKey)")
        req.headers.add(name: "Stripe-Version", value: Self.apiVersion)
        if let idempotencyKey { req.headers.add(name: "Idempotency-Key", value: idempotencyKey) }
        if let body {
            req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            req.body = .bytes(ByteBuffer(string: body))
        }
        let status: Int, bytes: ByteBuffer
        do {
            let r = try await http.execute(req, timeout: .seconds(30))
            status = Int(r.status.code)
            bytes = try await r.body.collect(upTo: 8 << 20)
        } catch {
            throw StripeError(status: 0, type: "api_connection_error", message: "cannot reach Stripe at \(base): \(error)")
        }
        let json = (try? JSON.parse(String(buffer: bytes))) ?? .null
        guard (200..<300).contains(status) else {
            let e = json["error"]
            throw StripeError(status: status, type: e?["type"]?.stringValue ?? "api_error", code: e?["code"]?.stringValue,
                              declineCode: e?["decline_code"]?.stringValue,
                              message: e?["message"]?.stringValue ?? "HTTP \(status) from Stripe", paymentIntent: e?["payment_intent"])
        }
        return json
    }
}
