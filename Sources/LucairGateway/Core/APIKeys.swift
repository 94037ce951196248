import Crypto
import Foundation
import LucairStorage
import Synchronization

/// Who is calling: the tenant and key behind a valid API key.
public struct Principal: Sendable, Equatable {
    public var tenantId: String
    public var keyId: String
    public var role: String
    public var isOperator: Bool { role == "operator" }
}

public enum APIKeys {
    public static let prefix = "sk-luc-"
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new key: `sk-luc-` + 43 base62 characters from 32 bytes of system randomness (256 bits).
    public static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // Base62 by repeated division of the 256-bit number.
        var digits: [UInt8] = []
        while bytes.contains(where: { $0 != 0 }) {
            var rem = 0
            for i in bytes.indices {
                let acc = rem * 256 + Int(bytes[i])
                bytes[i] = UInt8(acc / 62)
                rem = acc % 62
            }
            digits.append(alphabet[rem])
        }
        while digits.count < 43 { digits.append(alphabet[0]) }
        return prefix + String(decoding: digits.reversed(), as: UTF8.self)
    }

    /// Hex SHA-256 of the whole key: what is stored and looked up.
    public static func hash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// The part of a key safe to show and log.
    public static func displayPrefix(_ key: String) -> String { String(key.prefix(prefix.count + 4)) + "…" }

    public static func randomId(_ kind: String) -> String {
        var rng = SystemRandomNumberGenerator()
        return kind + "_" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
    }
}

/// Every active key, in memory, so authentication costs one hash and one dictionary lookup and
/// never a database round trip.
public final class KeyRing: Sendable {
    let byHash = Mutex<[String: Principal]>([:])

    public init() {}

    public func load(_ records: [APIKeyRecord]) {
        var map: [String: Principal] = [:]
        for r in records where r.revokedAtMillis == nil {
            map[r.hash] = Principal(tenantId: r.tenantId, keyId: r.id, role: r.role)
        }
        byHash.withLock { $0 = map }
    }

    public func add(_ r: APIKeyRecord) {
        byHash.withLock { $0[r.hash] = Principal(tenantId: r.tenantId, keyId: r.id, role: r.role) }
    }

    public func principal(forKey key: String) -> Principal? {
        guard key.hasPrefix(APIKeys.prefix) else { return nil }
        let h = APIKeys.hash(key)
        return byHash.withLock { $0[h] }
    }
}
