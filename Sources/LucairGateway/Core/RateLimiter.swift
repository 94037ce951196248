import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Logging
import LucairCore
import LucairStorage
import Synchronization

/// Requests per minute, tokens per minute, concurrent requests and daily / monthly spend caps,
/// per key lineage and per tenant.
///
/// Minutes are fixed windows aligned to the clock. Tokens are reserved before forwarding (the
/// prompt estimate plus the requested max output, 1024 when unset) and settled to the actual count
/// after, in the window they were reserved in.
///
/// With `shared` windows (PostgreSQL), RPM and TPM are counted there, exactly across replicas, in
/// one atomic statement per request that has such limits. If the store cannot be reached they fail
/// open to this process's own count (each replica then enforces the full limit on its own).
/// Concurrency and spend caps are counted in this process.
public final class RateLimiter: Sendable {
    struct Counter {
        var minute: Int64 = -1
        var requests = 0
        var tokens = 0
        var inFlight = 0
        var day: Int64 = -1
        var spentToday: NanoUSD = 0
        var month: Int64 = -1
        var spentThisMonth: NanoUSD = 0
    }

    /// A granted admission: what to settle and release when the request ends.
    public struct Admission: Sendable {
        let keys: [String]
        let minute: Int64
        var reservedTokens: Int
        /// Scopes whose RPM/TPM were counted in the shared store.
        var sharedScopes: [String] = []
        /// Rate-limit headers for the response (OpenAI's names).
        public let headers: [(String, String)]
        static let none = Admission(keys: [], minute: 0, reservedTokens: 0, headers: [])
    }

    let counters = Mutex<[String: Counter]>([:])
    let shared: (any SharedRateWindows)?
    let sharedFailing = Atomic<Bool>(false)
    /// When the shared store last failed (ms); while it is failing it is retried once a second.
    let sharedFailedAt = Atomic<Int64>(0)
    let logger: Logger
    public static let defaultMaxOutput = 1024
    /// How long a request waits for the shared store before counting locally instead.
    static let sharedDeadline: Duration = .milliseconds(250)

    public init(shared: (any SharedRateWindows)? = nil, logger: Logger = Logger(label: "lucair.limits")) {
        self.shared = shared
        self.logger = logger
    }

    /// Runs `body`, cancelling it after `d` (a NIO timer: cheaper than a racing sleep task).
    static func withDeadline<T: Sendable>(_ d: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000))) {
            task.cancel()
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// The shared store failed on the last attempt (limits are per replica until it answers).
    public var degraded: Bool { sharedFailing.load(ordering: .relaxed) }

    public static func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Spend already recorded (from storage, at start-up), so a restart does not reset budgets.
    public func seed(spentToday: [String: NanoUSD], spentThisMonth: [String: NanoUSD], nowMillis: Int64 = nowMillis()) {
        let (day, month) = Self.dayAndMonth(nowMillis)
        counters.withLock { c in
            for (k, v) in spentToday { c[k, default: Counter()].day = day; c[k, default: Counter()].spentToday = v }
            for (k, v) in spentThisMonth { c[k, default: Counter()].month = month; c[k, default: Counter()].spentThisMonth = v }
        }
    }

    /// UTC day number and month number (year × 12 + month); the calendar is consulted once a day.
    static let monthCache = Mutex<(day: Int64, month: Int64)>((-1, 0))

    static func dayAndMonth(_ ms: Int64) -> (Int64, Int64) {
        let day = ms / 86_400_000
        if let cached = monthCache.withLock({ $0.day == day ? $0.month : nil }) { return (day, cached) }
        let comps = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date(timeIntervalSince1970: Double(ms) / 1000))
        let month = Int64((comps.year ?? 1970) * 12 + (comps.month ?? 1))
        monthCache.withLock { $0 = (day, month) }
        return (day, month)
    }

    public func admit(_ p: Principal, estimatedTokens: Int, nowMillis: Int64 = nowMillis()) async throws -> Admission {
        let scopes: [(key: String, limits: Limits, label: String)] = [("k:" + p.lineageId, p.keyLimits, "key"), ("t:" + p.tenantId, p.tenantLimits, "tenant")]
        let active = scopes.filter { s in
            let l = s.limits
            return l.rpm != nil || l.tpm != nil || l.maxConcurrent != nil || l.dailySpendCapNano != nil || l.monthlySpendCapNano != nil
        }
        if active.isEmpty { return .none }
        let minute = nowMillis / 60_000
        let resetSeconds = Int((minute + 1) * 60_000 - nowMillis + 999) / 1000
        let (day, month) = Self.dayAndMonth(nowMillis)
        // Spend caps and concurrency (counted here) first, so a request they refuse never takes
        // shared quota. They are checked again, with the counting, below.
        try counters.withLock { c in
            for s in active {
                let k = c[s.key] ?? Counter()
                try Self.checkCapsAndConcurrency(k, s.limits, label: s.label, day: day, month: month)
            }
        }
        // Then the shared windows: one atomic statement for every scope with RPM or TPM.
        var countLocally = true
        var sharedScopes: [String] = []
        let retryShared = !sharedFailing.load(ordering: .relaxed) || nowMillis - sharedFailedAt.load(ordering: .relaxed) >= 1000
        if let shared, retryShared {
            let rated = active.filter { $0.limits.rpm != nil || $0.limits.tpm != nil }
            if !rated.isEmpty {
                do {
                    let refused = try await Self.withDeadline(Self.sharedDeadline) {
                        try await shared.acquire(scopes: rated.map(\.key), window: minute, tokens: estimatedTokens,
                                                 requestLimits: rated.map(\.limits.rpm), tokenLimits: rated.map(\.limits.tpm))
                    }
                    if sharedFailing.exchange(false, ordering: .relaxed) { logger.notice("shared rate windows reachable again") }
                    if let i = refused {
                        let s = rated[i]
                        var h: [(String, String)] = []
                        if let rpm = s.limits.rpm { h += [("x-ratelimit-limit-requests", String(rpm)), ("x-ratelimit-reset-requests", "\(resetSeconds)s")] }
                        if let tpm = s.limits.tpm { h += [("x-ratelimit-limit-tokens", String(tpm)), ("x-ratelimit-reset-tokens", "\(resetSeconds)s")] }
                        let what = [s.limits.rpm.map { "\($0) requests" }, s.limits.tpm.map { "\($0) tokens" }].compactMap { $0 }.joined(separator: " or ")
                        throw Self.limited("Rate limit reached for this \(s.label): \(what) per minute across all replicas. Try again in \(resetSeconds)s.",
                                           retryAfter: resetSeconds, headers: h)
                    }
                    countLocally = false
                    sharedScopes = rated.map(\.key)
                } catch let e as GatewayError {
                    throw e
                } catch {
                    sharedFailedAt.store(nowMillis, ordering: .relaxed)
                    if !sharedFailing.exchange(true, ordering: .relaxed) {
                        logger.error("shared rate windows unreachable; counting RPM/TPM per replica until they return", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
        return try counters.withLock { c in
            // Check everything first, then count: a refused request consumes nothing.
            var headers: [(String, String)] = []
            for s in active {
                var k = c[s.key] ?? Counter()
                if k.minute != minute { k.minute = minute; k.requests = 0; k.tokens = 0 }
                if k.day != day { k.day = day; k.spentToday = 0 }
                if k.month != month { k.month = month; k.spentThisMonth = 0 }
                c[s.key] = k
                let l = s.limits
                try Self.checkCapsAndConcurrency(k, l, label: s.label, day: day, month: month)
                if countLocally, let rpm = l.rpm {
                    let h = [("x-ratelimit-limit-requests", String(rpm)), ("x-ratelimit-remaining-requests", String(max(0, rpm - k.requests - 1))),
                             ("x-ratelimit-reset-requests", "\(resetSeconds)s")]
                    if k.requests >= rpm {
                        throw Self.limited("Rate limit reached for this \(s.label): \(rpm) requests per minute. Try again in \(resetSeconds)s.", retryAfter: resetSeconds,
                                           headers: [h[0], ("x-ratelimit-remaining-requests", "0"), h[2]])
                    }
                    headers += h
                }
                if countLocally, let tpm = l.tpm {
                    let h = [("x-ratelimit-limit-tokens", String(tpm)), ("x-ratelimit-remaining-tokens", String(max(0, tpm - k.tokens - estimatedTokens))),
                             ("x-ratelimit-reset-tokens", "\(resetSeconds)s")]
                    if k.tokens + estimatedTokens > tpm {
                        throw Self.limited("Rate limit reached for this \(s.label): \(tpm) tokens per minute (this request needs about \(estimatedTokens); lower max_tokens or try again in \(resetSeconds)s).",
                                           retryAfter: resetSeconds, headers: [h[0], ("x-ratelimit-remaining-tokens", String(max(0, tpm - k.tokens))), h[2]])
                    }
                    headers += h
                }
            }
            for s in active {
                if countLocally {
                    c[s.key]!.requests += 1
                    c[s.key]!.tokens += estimatedTokens
                }
                c[s.key]!.inFlight += 1
            }
            return Admission(keys: active.map(\.key), minute: minute, reservedTokens: estimatedTokens, sharedScopes: sharedScopes, headers: headers)
        }
    }

    /// Ends an admitted request: frees its concurrency slot, replaces the token reservation by the
    /// actual count and adds its cost to the spend windows.
    public func settle(_ a: Admission, actualTokens: Int, cost: NanoUSD, nowMillis: Int64 = nowMillis()) {
        guard !a.keys.isEmpty else { return }
        let delta = actualTokens - a.reservedTokens
        if let shared, !a.sharedScopes.isEmpty, delta != 0 {
            Task { try? await shared.adjustTokens(scopes: a.sharedScopes, window: a.minute, delta: delta) }
        }
        let (day, month) = Self.dayAndMonth(nowMillis)
        counters.withLock { c in
            for key in a.keys {
                guard var k = c[key] else { continue }
                k.inFlight = max(0, k.inFlight - 1)
                if k.minute == a.minute { k.tokens = max(0, k.tokens - a.reservedTokens + actualTokens) }
                if k.day == day { k.spentToday += cost }
                if k.month == month { k.spentThisMonth += cost }
                c[key] = k
            }
        }
    }

    static func checkCapsAndConcurrency(_ k: Counter, _ l: Limits, label: String, day: Int64, month: Int64) throws {
        if let cap = l.monthlySpendCapNano, k.month == month, k.spentThisMonth >= cap {
            throw quota("The \(label)'s monthly spend cap (\(Money.display(cap))) is used up. It resets at the start of next month (UTC), or ask your admin to raise it.")
        }
        if let cap = l.dailySpendCapNano, k.day == day, k.spentToday >= cap {
            throw quota("The \(label)'s daily spend cap (\(Money.display(cap))) is used up. It resets at midnight UTC, or ask your admin to raise it.")
        }
        if let max = l.maxConcurrent, k.inFlight >= max {
            throw limited("Too many concurrent requests for this \(label) (limit \(max)). Wait for one to finish.", retryAfter: 1, headers: [])
        }
    }

    static func limited(_ message: String, retryAfter: Int, headers: [(String, String)]) -> GatewayError {
        var e = GatewayError(status: 429, type: "requests", code: "rate_limit_exceeded", message: message, origin: .client, retryAfterSeconds: retryAfter)
        e.headers = headers
        return e
    }

    static func quota(_ message: String) -> GatewayError {
        GatewayError(status: 429, type: "insufficient_quota", code: "insufficient_quota", message: message, origin: .client)
    }
}
