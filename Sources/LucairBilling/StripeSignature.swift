import Crypto
import Foundation
import LucairLedger

/// Stripe's webhook signature scheme: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`, where each
/// `v1` is HMAC-SHA256 of `"<t>.<raw body>"` under the endpoint's secret. A request is genuine when
/// any `v1` matches (secrets roll over) and `t` is within the tolerance of now (no replays).
public enum StripeSignature {
    public static let toleranceSeconds: Int64 = 300

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case missingHeader, malformedHeader, noMatch, stale(ageSeconds: Int64)
        public var description: String {
            switch self {
            case .missingHeader: "no Stripe-Signature header"
            case .malformedHeader: "the Stripe-Signature header has no timestamp or no v1 signature"
            case .noMatch: "no v1 signature matches the body under the webhook secret"
            case .stale(let age): "the signature's timestamp is \(age) s from now (tolerance \(StripeSignature.toleranceSeconds) s)"
            }
        }
    }

    /// Throws unless `header` signs `body` under `secret` within the tolerance of `now`.
    public static func verify(body: [UInt8], header: String?, secret: String, now: Int64 = Int64(Date().timeIntervalSince1970)) throws(Failure) {
        guard let header else { throw .missingHeader }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let key = kv[0].trimmingCharacters(in: .whitespaces), value = kv[1].trimmingCharacters(in: .whitespaces)
            if key == "t" { timestamp = Int64(value) } else if key == "v1", let sig = Hex.decode(value) { signatures.append(sig) }
        }
        guard let timestamp, !signatures.isEmpty else { throw .malformedHeader }
        let key = SymmetricKey(data: Array(secret.utf8))
        let signed = Array("\(timestamp).".utf8) + body
        // HMAC.isValidAuthenticationCode compares in constant time.
        guard signatures.contains(where: { HMAC<SHA256>.isValidAuthenticationCode($0, authenticating: signed, using: key) }) else { throw .noMatch }
        guard abs(now - timestamp) <= toleranceSeconds else { throw .stale(ageSeconds: now - timestamp) }
    }

    /// The header Stripe would send (tests and the fake).
    public static func header(body: [UInt8], secret: String, timestamp: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(timestamp).".utf8) + body, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + Hex.encode(mac)
    }
}
