import LucairLedger

/// Stripe's request encoding: `application/x-www-form-urlencoded` with nested keys in brackets
/// (`metadata[tenant_id]=…`, `line_items[0][quantity]=1`). Written here because no listed package
/// encodes this dialect.
public enum StripeForm {
    public indirect enum Value: Sendable {
        case string(String)
        case dict([(String, Value)])
        case list([Value])
    }

    /// Encodes in the order given (Stripe does not care; tests and idempotency hashes do).
    public static func encode(_ fields: [(String, Value)]) -> String {
        var pairs: [String] = []
        func walk(_ key: String, _ v: Value) {
            switch v {
            case .string(let s): pairs.append(escape(key) + "=" + escape(s))
            case .dict(let d): for (k, x) in d { walk("\(key)[\(k)]", x) }
            case .list(let l): for (i, x) in l.enumerated() { walk("\(key)[\(i)]", x) }
            }
        }
        for (k, v) in fields { walk(k, v) }
        return pairs.joined(separator: "&")
    }

    public static func encode(_ fields: KeyValuePairs<String, Value>) -> String { encode(fields.map { ($0.key, $0.value) }) }

    static func escape(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + Hex.encode([b]).uppercased()
            }
        }
        return out
    }
}

extension StripeForm.Value: ExpressibleByStringLiteral {
    public init(stringLiteral s: String) { self = .string(s) }
}
