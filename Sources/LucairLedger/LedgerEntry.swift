import Crypto
import LucairCore
import LucairWire

/// One ledger entry: a line of header, then a JSON body with sorted keys. The hash is SHA-256 over
/// exactly these bytes (encoding version `lucair-ledger/1`), and the header carries the previous
/// entry's hash, so each tenant's entries form a chain a tenant can check alone:
///
///     lucair-ledger/1 <tenant> <seq> <prev hash hex>\n<body JSON>
///
/// Entries are never edited; a correction is a new entry.
public struct LedgerEntry: Sendable, Equatable {
    public static let version = "lucair-ledger/1"
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public var tenantId: String
    public var seq: Int64
    public var kind: String
    /// What the entry is about (a request id for usage): unique per tenant and kind.
    public var ref: String
    public var canonical: [UInt8]
    public var hash: [UInt8]

    public init(tenantId: String, seq: Int64, prev: [UInt8], kind: String, ref: String, body: JSONValue) {
        var b = body
        b["kind"] = .string(kind)
        b["ref"] = .string(ref)
        var bytes = Array("\(Self.version) \(tenantId) \(seq) \(Hex.encode(prev))\n".utf8)
        bytes += b.serialized()
        self.init(tenantId: tenantId, seq: seq, kind: kind, ref: ref, canonical: bytes)
    }

    /// An entry as stored; its hash is recomputed, never trusted.
    public init(tenantId: String, seq: Int64, kind: String, ref: String, canonical: [UInt8]) {
        self.tenantId = tenantId
        self.seq = seq
        self.kind = kind
        self.ref = ref
        self.canonical = canonical
        hash = Array(SHA256.hash(data: canonical))
    }

    /// The header fields, read from the canonical bytes themselves.
    public var header: (tenant: Substring, seq: Int64?, prev: Substring)? {
        guard let nl = canonical.firstIndex(of: 10) else { return nil }
        let line = String(decoding: canonical[..<nl], as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == Self.version else { return nil }
        return (parts[1], Int64(parts[2]), parts[3])
    }

    public var body: JSONValue? {
        guard let nl = canonical.firstIndex(of: 10) else { return nil }
        return try? JSON.parse(bytes: canonical[(nl + 1)...])
    }

    /// Exactly `LedgerEntry(…, kind: "usage", ref: r.requestId, body: usageBody(r)).canonical`,
    /// written field by field in sorted key order (no dictionaries): the usage writer's hot loop.
    /// `LedgerTests` holds the two equal.
    public static func usageCanonical(_ r: UsageRecord, seq: Int64, prev: [UInt8]) -> [UInt8] {
        usageCanonical(r, seq: seq, prevHex: Hex.encode(prev))
    }

    /// The same, with the previous entry's hash as stored (hex): how storage rebuilds a usage entry,
    /// whose bytes it does not keep, from its usage row.
    public static func usageCanonical(_ r: UsageRecord, seq: Int64, prevHex: String) -> [UInt8] {
        var o: [UInt8] = []
        o.reserveCapacity(640)
        o += "\(version) \(r.tenantId) \(seq) \(prevHex)\n".utf8
        func key(_ k: StaticString, first: Bool = false) {
            if !first { o.append(44) }
            o.append(34)
            k.withUTF8Buffer { o += $0 }
            o += [34, 58]
        }
        func str(_ s: String) { JSONValue.writeString(s, into: &o) }
        func int<I: BinaryInteger>(_ i: I) { JSONValue.writeInteger(Int64(i), into: &o) }
        o.append(123)
        key("at", first: true); int(r.createdAtMillis)
        key("cost_nano"); int(r.costNano)
        key("endpoint"); str(r.endpoint)
        key("estimated"); o += (r.estimated ? "true" : "false").utf8
        key("key"); str(r.keyId)
        key("kind"); str("usage")
        key("model"); str(r.model)
        key("price_version"); str(r.priceVersion)
        key("ref"); str(r.requestId)
        key("status"); int(r.status)
        key("tier"); str(r.tier)
        key("tokens"); o.append(123)
        key("cache_write", first: true); int(r.cacheWriteTokens)
        key("cached_input"); int(r.cachedInputTokens)
        key("input"); int(r.inputTokens)
        key("output"); int(r.outputTokens)
        key("reasoning"); int(r.reasoningTokens)
        o.append(125)
        key("unit_price_nano"); o.append(123)
        key("cache_write", first: true); int(r.unitPrice.cacheWrite)
        key("cached_input"); int(r.unitPrice.cachedInput)
        key("input"); int(r.unitPrice.input)
        key("output"); int(r.unitPrice.output)
        o += [125, 125]
        return o
    }

    /// The ledger body of a usage record: everything needed to re-price and audit it.
    public static func usageBody(_ r: UsageRecord) -> JSONValue {
        [
            "at": .int(r.createdAtMillis), "key": .string(r.keyId), "endpoint": .string(r.endpoint),
            "tier": .string(r.tier), "model": .string(r.model), "status": .int(r.status), "estimated": .bool(r.estimated),
            "tokens": ["input": .int(r.inputTokens), "cached_input": .int(r.cachedInputTokens), "cache_write": .int(r.cacheWriteTokens),
                       "output": .int(r.outputTokens), "reasoning": .int(r.reasoningTokens)],
            "unit_price_nano": ["input": .int(r.unitPrice.input), "cached_input": .int(r.unitPrice.cachedInput),
                                "cache_write": .int(r.unitPrice.cacheWrite), "output": .int(r.unitPrice.output)],
            "price_version": .string(r.priceVersion), "cost_nano": .int(r.costNano),
        ]
    }
}

/// Lower-case hex, hand-written (no listed package does it; Foundation's per-byte String(format:) is
/// slow): API key hashes and request ids on the request path, ledger hashes off it.
public enum Hex {
    static let digits = Array("0123456789abcdef".utf8)

    public static func encode<S: Sequence<UInt8>>(_ bytes: S) -> String {
        if let s = bytes.withContiguousStorageIfAvailable({ encode($0) }) { return s }
        return encode(Array(bytes))
    }

    /// Written straight into the string's storage: no array in between (hashes and ids on every
    /// request and every ledger entry).
    public static func encode(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, b) in bytes.enumerated() {
                out[2 * i] = digits[Int(b >> 4)]
                out[2 * i + 1] = digits[Int(b & 15)]
            }
            return bytes.count * 2
        }
    }

    /// The hex digits as bytes, for comparing with stored text without building a String.
    public static func encodedBytes<S: Sequence<UInt8>>(_ bytes: S) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return out
    }

    public static func decode<S: StringProtocol>(_ s: S) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { return nil }
        func v(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count {
            guard let h = v(u[i]), let l = v(u[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }
}
