import Crypto
import LucairCore

/// The tip of a tenant's chain, as the writer keeps it: last sequence number and hash, and the
/// Merkle frontier (so checkpoints need no scan of the entries).
public struct LedgerHead: Sendable, Equatable {
    public var seq: Int64 = 0
    public var hash: [UInt8] = LedgerEntry.genesis
    public var frontier = Merkle.Frontier()

    public init() {}
    public init(seq: Int64, hash: [UInt8], frontier: Merkle.Frontier) {
        self.seq = seq
        self.hash = hash
        self.frontier = frontier
    }

    /// Stored as text: the frontier's node hashes, hex, comma-separated.
    public var frontierText: String { frontier.nodes.map { Hex.encode($0) }.joined(separator: ",") }

    public init?(seq: Int64, hashHex: String, frontierText: String) {
        guard let h = Hex.decode(hashHex) else { return nil }
        let nodes = frontierText.isEmpty ? [] : frontierText.split(separator: ",").compactMap { Hex.decode($0) }
        guard let f = Merkle.Frontier(size: seq, nodes: nodes) else { return nil }
        self.init(seq: seq, hash: h, frontier: f)
    }

    /// Chains a new entry onto this head.
    public mutating func append(tenantId: String, kind: String, ref: String, body: JSONValue) -> LedgerEntry {
        chain(LedgerEntry(tenantId: tenantId, seq: seq + 1, prev: hash, kind: kind, ref: ref, body: body))
    }

    /// Chains a usage record's entry (the writer's hot loop: the canonical bytes written directly).
    public mutating func append(usage r: UsageRecord) -> LedgerEntry {
        chain(LedgerEntry(tenantId: r.tenantId, seq: seq + 1, kind: "usage", ref: r.requestId, canonical: LedgerEntry.usageCanonical(r, seq: seq + 1, prev: hash)))
    }

    mutating func chain(_ e: LedgerEntry) -> LedgerEntry {
        seq = e.seq
        hash = e.hash
        frontier.append(leafHash: Merkle.leaf(e.hash))
        return e
    }
}

import LucairWire

/// Recomputes a tenant's chain from its stored entries and checks it against its checkpoints.
/// Names the first broken link.
public enum LedgerVerifier {
    public struct Stored: Sendable {
        public var seq: Int64
        public var canonical: [UInt8]
        public var hash: String
        public init(seq: Int64, canonical: [UInt8], hash: String) {
            self.seq = seq
            self.canonical = canonical
            self.hash = hash
        }
    }

    public struct Break: Error, Sendable, Equatable, CustomStringConvertible {
        public var tenantId: String
        public var seq: Int64
        public var problem: String
        public var description: String { "tenant \(tenantId), entry \(seq): \(problem)" }
    }

    /// Entries must come in stored order (by sequence number); checkpoints in any order.
    public static func verify(tenantId: String, entries: [Stored], checkpoints: [Checkpoint], publicKey: Curve25519.Signing.PublicKey?) -> Break? {
        let byEnd = Dictionary(grouping: checkpoints, by: \.size)
        var prev = LedgerEntry.genesis
        var prevHex = Hex.encodedBytes(prev)
        var frontier = Merkle.Frontier()
        let prefix = Array("\(LedgerEntry.version) \(tenantId) ".utf8)
        for (i, e) in entries.enumerated() {
            let expected = Int64(i + 1)
            func fail(_ p: String) -> Break { Break(tenantId: tenantId, seq: expected, problem: p) }
            if e.seq != expected { return fail(e.seq > expected ? "missing (the next stored entry is \(e.seq))" : "out of order (found \(e.seq))") }
            // Header: version, tenant, seq, previous hash — checked on the bytes.
            let c = e.canonical
            if c.isEmpty { return fail("its usage record, which its bytes are rebuilt from, is missing") }
            guard c.count > prefix.count, c[..<prefix.count].elementsEqual(prefix),
                  let nl = c[prefix.count...].firstIndex(of: 10) else { return fail("bad header") }
            let rest = c[prefix.count..<nl]
            guard let sp = rest.firstIndex(of: 32), Int64(String(decoding: rest[..<sp], as: UTF8.self)) == expected else {
                return fail("header names another sequence number")
            }
            guard rest[(sp + 1)...].elementsEqual(prevHex) else { return fail("previous hash does not match entry \(expected - 1)") }
            let h = Array(SHA256.hash(data: c))
            let hex = Hex.encodedBytes(h)
            guard e.hash.utf8.elementsEqual(hex) else { return fail("content does not match its hash") }
            prev = h
            prevHex = hex
            frontier.append(leafHash: Merkle.leaf(h))
            for cp in byEnd[expected] ?? [] {
                if let k = publicKey, !cp.isSigned(by: k) { return Break(tenantId: tenantId, seq: cp.size, problem: "checkpoint at \(cp.createdAtMillis) has a bad signature") }
                if cp.head != h || cp.root != frontier.root { return Break(tenantId: tenantId, seq: cp.size, problem: "differs from the signed checkpoint at \(cp.createdAtMillis)") }
            }
        }
        if let cp = checkpoints.filter({ $0.size > Int64(entries.count) }).min(by: { $0.size < $1.size }) {
            return Break(tenantId: tenantId, seq: Int64(entries.count) + 1, problem: "missing: checkpoint at \(cp.createdAtMillis) covers \(cp.size) entries, the ledger holds \(entries.count) (truncated)")
        }
        return nil
    }
}

/// What a tenant needs to check one entry against a published checkpoint, and nothing else.
public struct InclusionProof: Sendable, Equatable {
    public var entry: [UInt8]
    public var index: Int64
    public var path: [[UInt8]]
    public var checkpoint: Checkpoint

    public init(entry: [UInt8], index: Int64, path: [[UInt8]], checkpoint: Checkpoint) {
        self.entry = entry
        self.index = index
        self.path = path
        self.checkpoint = checkpoint
    }

    public var json: JSONValue {
        ["version": "lucair-inclusion/1", "entry": .string(String(decoding: entry, as: UTF8.self)), "leaf_index": .int(index),
         "audit_path": .array(path.map { .string(Hex.encode($0)) }), "checkpoint": checkpoint.json]
    }

    public init?(json: JSONValue) {
        guard json["version"]?.stringValue == "lucair-inclusion/1", let e = json["entry"]?.stringValue,
              let i = json["leaf_index"]?.intValue, let p = json["audit_path"]?.arrayValue,
              let c = json["checkpoint"].flatMap(Checkpoint.init(json:)) else { return nil }
        let path = p.compactMap { $0.stringValue.flatMap(Hex.decode) }
        guard path.count == p.count else { return nil }
        self.init(entry: Array(e.utf8), index: Int64(i), path: path, checkpoint: c)
    }

    /// True when the entry is in the checkpointed tree and the checkpoint is signed by `key`.
    public func verify(key: Curve25519.Signing.PublicKey) -> Bool {
        let h = Array(SHA256.hash(data: entry))
        return checkpoint.isSigned(by: key)
            && Merkle.verifyInclusion(leafHash: Merkle.leaf(h), index: index, size: checkpoint.size, path: path, root: checkpoint.root)
    }
}
