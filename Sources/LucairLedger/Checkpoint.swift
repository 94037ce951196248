import Crypto
import Foundation
import LucairWire

/// A signed statement of one tenant's chain at a moment: its length, last hash and Merkle root.
/// Per tenant, so a tenant's checkpoints say nothing about other tenants. Ed25519 over the
/// canonical body (JSON, sorted keys, version `lucair-checkpoint/1`).
public struct Checkpoint: Sendable, Equatable {
    public static let version = "lucair-checkpoint/1"
    public var tenantId: String
    public var size: Int64
    public var head: [UInt8]
    public var root: [UInt8]
    public var createdAtMillis: Int64
    public var signature: [UInt8]

    public var body: [UInt8] {
        let b: JSONValue = ["version": .string(Self.version), "tenant": .string(tenantId), "size": .int(size),
                            "head": .string(Hex.encode(head)), "root": .string(Hex.encode(root)), "at": .int(createdAtMillis)]
        return b.serialized()
    }

    public static func signed(tenantId: String, size: Int64, head: [UInt8], root: [UInt8], at: Int64, key: Curve25519.Signing.PrivateKey) throws -> Checkpoint {
        var c = Checkpoint(tenantId: tenantId, size: size, head: head, root: root, createdAtMillis: at, signature: [])
        c.signature = Array(try key.signature(for: c.body))
        return c
    }

    public func isSigned(by key: Curve25519.Signing.PublicKey) -> Bool {
        key.isValidSignature(signature, for: body)
    }

    /// The file form: the body's fields plus the signature, what a tenant keeps and publishes.
    public var json: JSONValue {
        ["version": .string(Self.version), "tenant": .string(tenantId), "size": .int(size), "head": .string(Hex.encode(head)),
         "root": .string(Hex.encode(root)), "at": .int(createdAtMillis), "signature": .string(Hex.encode(signature))]
    }

    public init(tenantId: String, size: Int64, head: [UInt8], root: [UInt8], createdAtMillis: Int64, signature: [UInt8]) {
        self.tenantId = tenantId
        self.size = size
        self.head = head
        self.root = root
        self.createdAtMillis = createdAtMillis
        self.signature = signature
    }

    public init?(json: JSONValue) {
        guard json["version"]?.stringValue == Self.version, let t = json["tenant"]?.stringValue,
              let size = json["size"]?.intValue, let head = json["head"]?.stringValue.flatMap(Hex.decode),
              let root = json["root"]?.stringValue.flatMap(Hex.decode), let at = json["at"]?.intValue,
              let sig = json["signature"]?.stringValue.flatMap(Hex.decode) else { return nil }
        self.init(tenantId: t, size: Int64(size), head: head, root: root, createdAtMillis: Int64(at), signature: sig)
    }
}

public typealias LedgerPublicKey = Curve25519.Signing.PublicKey

/// The ledger's signing key: 32 raw bytes, hex (config `[ledger] signing_key` / `_env`).
public enum LedgerKey {
    public static func privateKey(hex: String) -> Curve25519.Signing.PrivateKey? {
        Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { try? Curve25519.Signing.PrivateKey(rawRepresentation: $0) }
    }

    public static func publicKey(hex: String) -> Curve25519.Signing.PublicKey? {
        Hex.decode(hex.trimmingCharacters(in: .whitespacesAndNewlines)).flatMap { try? Curve25519.Signing.PublicKey(rawRepresentation: $0) }
    }

    public static func generate() -> String { Hex.encode(Curve25519.Signing.PrivateKey().rawRepresentation) }
}
