import Crypto
import Foundation
import LucairCore
import LucairLedger
import LucairStorage
import Synchronization

/// Who is calling: the key, its tenant and plan, and everything that limits what it may do.
public struct Principal: Sendable, Equatable {
    public var tenantId: String
    public var tenantName: String
    /// The key record that authenticated (changes on rotation).
    public var keyId: String
    /// The key's identity across rotations: limits, windows and budgets are keyed by it.
    public var lineageId: String
    public var role: String
    public var plan: Plan
    public var scopes: KeyScopes
    /// The key's own limits.
    public var keyLimits: Limits
    /// The tenant's limits: its overrides over its plan's.
    public var tenantLimits: Limits
    public var expiresAtMillis: Int64?
    /// An external tenant: pays from a prepaid wallet, which every request must be able to cover.
    public var prepaid = false

    public var isOperator: Bool { role == "operator" }
    /// May administer this tenant (operators may administer every tenant).
    public func administers(tenantId t: String) -> Bool { isOperator || (role == "tenant_admin" && tenantId == t) }

    /// The highest tier this key may reach: the plan's ceiling, narrowed by the key's tier scopes.
    public var ceiling: Tier { scopes.tiers.isEmpty ? plan.ceiling : min(plan.ceiling, scopes.tiers.max()!) }

    /// The tiers this key may reach: the plan's ceiling, narrowed by the key's scopes.
    public func allows(tier: Tier, model: String) -> Bool {
        plan.allows(tier) && (scopes.tiers.isEmpty || scopes.tiers.contains(tier)) && (scopes.models.isEmpty || scopes.models.contains(model))
    }
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
        Hex.encode(SHA256.hash(data: Data(key.utf8)))
    }

    /// The part of a key safe to show and log.
    public static func displayPrefix(_ key: String) -> String { String(key.prefix(prefix.count + 4)) + "…" }

    /// `kind_` + 24 hex characters (96 random bits, drawn as two words: one syscall each).
    public static func randomId(_ kind: String) -> String {
        let a = UInt64.random(in: .min ... .max), b = UInt32.random(in: .min ... .max)
        return kind + "_" + Hex.encode(withUnsafeBytes(of: a.bigEndian) { Array($0) } + withUnsafeBytes(of: b.bigEndian) { Array($0) })
    }

    /// `kind_` + 12 hex characters of the Unix time in milliseconds + 16 of a 64-bit word unique to
    /// this process: ids that sort by time, so the stores' primary-key indexes grow at their right
    /// edge instead of taking each insert on a random page (UUIDv7's reasoning). The word is
    /// SplitMix64's output for a counter from a random start: a bijection, so no two ids of one
    /// process share it, and two replicas' ids collide only within one millisecond, at odds of 2^-64
    /// per pair, as with random words. It spares a `getrandom` syscall per request (0.7 % of
    /// Lucair's CPU in a profile); request ids are not secrets.
    public static func timeOrderedId(_ kind: String) -> String {
        let ms = UInt64(RateLimiter.nowMillis())
        let z = SplitMix64.mix(idStart &+ idCounter.add(1, ordering: .relaxed).newValue &* SplitMix64.gamma)
        var bytes = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: (ms << 16).bigEndian, as: UInt64.self)  // the time's 6 bytes, then 2 the word overwrites
            raw.storeBytes(of: z.bigEndian, toByteOffset: 6, as: UInt64.self)
            return kind + "_" + Hex.encode(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[0..<14]))
        }
    }

    static let idStart = UInt64.random(in: .min ... .max)
    static let idCounter = Atomic<UInt64>(0)
}

/// Every active key, in memory, so authentication costs one hash and one dictionary lookup and
/// never a database round trip. `KeyRefresher` reloads it when storage's version moves.
public final class KeyRing: Sendable {
    let byHash = Mutex<[KeyDigest: Principal]>([:])

    /// A key's SHA-256 as four words: looked up without writing it out as 64 hex characters and
    /// hashing those (a fifth of authentication's time per request in a profile).
    struct KeyDigest: Hashable {
        var a, b, c, d: UInt64

        init(_ bytes: UnsafeRawBufferPointer) {
            (a, b, c, d) = (bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                            bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self), bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        }

        /// From the stored hex form; nil if it is not 64 hex digits.
        init?(hex: String) {
            guard let bytes = Hex.decode(hex), bytes.count == 32 else { return nil }
            self = bytes.withUnsafeBytes { KeyDigest($0) }
        }

        init<K: StringProtocol>(key: K) {
            let digest = key.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
                ?? SHA256.hash(data: Array(key.utf8))
            self = digest.withUnsafeBytes { KeyDigest($0) }
        }

        func hash(into h: inout Hasher) { h.combine(a) }  // already uniformly random
    }

    public init() {}

    public func load(keys: [APIKeyRecord], tenants: [TenantRecord], plans: [String: Plan]) {
        let tenantById = Dictionary(tenants.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var map: [KeyDigest: Principal] = [:]
        for k in keys where k.revokedAtMillis == nil {
            guard let t = tenantById[k.tenantId], let digest = KeyDigest(hex: k.hash) else { continue }
            let plan = plans[t.plan] ?? Plan(name: t.plan, ceiling: .baseline)  // an unknown plan gets the least
            map[digest] = Principal(
                tenantId: t.id, tenantName: t.name, keyId: k.id, lineageId: k.lineageId, role: k.role, plan: plan,
                scopes: k.scopes, keyLimits: k.limits, tenantLimits: t.limits.over(plan.limits), expiresAtMillis: k.expiresAtMillis,
                prepaid: t.kind == "external")
        }
        byHash.withLock { $0 = map }
    }

    public func principal<K: StringProtocol>(forKey key: K) -> Principal? {
        guard key.utf8.starts(with: APIKeys.prefix.utf8) else { return nil }
        let digest = KeyDigest(key: key)
        return byHash.withLock { $0[digest] }
    }
}
