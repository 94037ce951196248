import Foundation
import Logging
import LucairCore
import LucairStorage
import NIOCore
import NIOPosix
import Synchronization

/// Requests per minute, tokens per minute, concurrent requests and daily / monthly spend caps,
/// per key lineage and per tenant.
///
/// Minutes are fixed windows aligned to the clock. Tokens are reserved before forwarding (the
/// prompt estimate plus the requested max output, 1024 when unset) and settled to the actual count
/// after, in the window they were reserved in.
///
/// With a `shared` store (PostgreSQL), every limit is counted there, exactly across replicas: a
/// replica takes quota in blocks and spends them here without a round trip per request
/// (`RateLimiter+Shared.swift`). If the store cannot be reached, this process counts on its own
/// (each replica then enforces the full limits by itself); spend is always also counted here, so
/// spend caps keep failing closed through an outage.
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
        /// Set when the shared store counted this request (from this replica's blocks or a grant).
        var shared: SharedPart? = nil
        /// Rate-limit headers for the response (OpenAI's names).
        public let limits: RateLimitHeaders
        public static let none = Admission(keys: [], minute: 0, reservedTokens: 0, limits: RateLimitHeaders())
    }

    /// An answer's rate-limit headers, as numbers until the answer is written: formatting a dozen
    /// strings per request, to write them out again later, was most of `admit`'s time.
    public struct RateLimitHeaders: Sendable {
        var requests: (limit: Int, remaining: Int)?
        var tokens: (limit: Int, remaining: Int)?
        var resetSeconds = 0

        public var pairs: [(String, String)] {
            var p = HeaderPairs()
            write(into: &p)
            return p.pairs
        }

        func write<H: HeaderSink>(into h: inout H) {
            if let r = requests {
                h.add("x-ratelimit-limit-requests", String(r.limit))
                h.add("x-ratelimit-remaining-requests", String(r.remaining))
                h.add("x-ratelimit-reset-requests", "\(resetSeconds)s")
            }
            if let t = tokens {
                h.add("x-ratelimit-limit-tokens", String(t.limit))
                h.add("x-ratelimit-remaining-tokens", String(t.remaining))
                h.add("x-ratelimit-reset-tokens", "\(resetSeconds)s")
            }
        }
    }

    /// What a request took from this replica's blocks, to give back or settle when it ends.
    struct SharedPart: Sendable {
        var slots: [Slot] = []
        /// Scopes whose blocks gave this request one request, and its estimated tokens.
        var requestScopes: [String] = []
        var tokenScopes: [String] = []
        var spendScopes: [String] = []
        var day = "", month = ""
    }

    /// A concurrency slot held in the shared store (one lease row).
    struct Slot: Sendable {
        var scope: String
        var lease: String
        var grantedAt: Int64
    }

    /// A key lineage ("k:…") or tenant ("t:…") with its limits, and the word for it in messages.
    typealias Scope = (key: String, limits: Limits, label: String)

    let counters = Mutex<[String: Counter]>([:])
    /// This replica's blocks of the shared limits, per scope (`RateLimiter+Shared.swift`).
    let pools = Mutex<[String: QuotaPool]>([:])
    /// Requests that waited on a round trip to the shared store (the rest were served from blocks).
    public let sharedRoundTrips = Atomic<Int>(0)
    /// The minute whose old windows this replica last had the store delete.
    let prunedMinute = Atomic<Int64>(0)
    /// Top-ups of blocks in flight (`QuotaPool.backgroundGrants` at most).
    let backgroundGrants = Atomic<Int>(0)
    let shared: (any SharedLimits)?
    /// Settlements waiting for the next batch to the shared store.
    let pendingSettles = Mutex(SharedSettleBatch())
    /// How long a settlement waits to share a round trip with others.
    static let settleBatchDelay: TimeAmount = .milliseconds(5)
    let sharedFailing = Atomic<Bool>(false)
    /// When the shared store last failed (ms); while it is failing it is retried once a second.
    let sharedFailedAt = Atomic<Int64>(0)
    /// Failed settle attempts, told to the operator once a minute.
    let settleWarnings = Mutex(WarningThrottle(interval: .seconds(60)))
    let logger: Logger
    public static let defaultMaxOutput = 1024
    /// How long a request waits for the shared store before counting locally instead.
    static let sharedDeadline: Duration = .milliseconds(250)
    /// How long after giving up on a grant its lease is released a second time, in case the store
    /// committed the grant late.
    static let lateGrantRelease = TimeAmount.seconds(5)

    public init(shared: (any SharedLimits)? = nil, logger: Logger = Logger(label: "lucair.limits")) {
        self.shared = shared
        self.logger = logger
    }

    /// Gave up waiting for the shared store.
    struct DeadlinePassed: Error {}

    /// Who answers a `withDeadline` call (the first to ask), and its timer, cancelled when the
    /// answer comes first.
    final class DeadlineRace: Sendable {
        let taken = Atomic<Bool>(false)
        let timer = Mutex<Scheduled<Void>?>(nil)
        func first() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
        func arm(_ t: Scheduled<Void>) {
            timer.withLock { $0 = t }
            if taken.load(ordering: .acquiring) { t.cancel() }  // answered before the timer was stored
        }
        func disarm() { timer.withLock { $0?.cancel() } }
    }

    /// Runs `body` and returns its answer, or throws `DeadlinePassed` after `d` (a NIO timer) without
    /// waiting for `body` any longer: a query already sent runs on (PostgresNIO does not abort one
    /// when its task is cancelled), and an answer that comes after the deadline goes to `late`.
    static func withDeadline<T: Sendable>(_ d: Duration, late: @escaping @Sendable (T) -> Void = { _ in },
                                          _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = DeadlineRace()
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            let task = Task {
                do {
                    let answer = try await body()
                    if race.first() { race.disarm(); c.resume(returning: answer) } else { late(answer) }
                } catch {
                    if race.first() { race.disarm(); c.resume(throwing: error) }
                }
            }
            race.arm(MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(Int64(d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000))) {
                if race.first() {
                    task.cancel()  // a wait for a pooled connection ends here; a query in flight does not
                    c.resume(throwing: DeadlinePassed())
                }
            })
        }
    }

    /// The shared store failed on the last attempt (limits are per replica until it answers).
    public var degraded: Bool { sharedFailing.load(ordering: .relaxed) }
    /// Requests counted by this replica alone although limits are shared (the store was slow or down).
    public let localFallbacks = Atomic<Int>(0)

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
        let scopes: [Scope] = [("k:" + p.lineageId, p.keyLimits, "key"), ("t:" + p.tenantId, p.tenantLimits, "tenant")]
        let active = scopes.filter { s in
            let l = s.limits
            return l.rpm != nil || l.tpm != nil || l.maxConcurrent != nil || l.hasSpendCap
        }
        if active.isEmpty { return .none }
        let minute = nowMillis / 60_000
        let resetSeconds = Int((minute + 1) * 60_000 - nowMillis + 999) / 1000
        let (day, month) = Self.dayAndMonth(nowMillis)
        // This replica's own spend is a lower bound of the shared one, and current at once.
        try counters.withLock { c in
            for s in active { if let k = c[s.key] { try Self.checkCaps(k, s.limits, label: s.label, day: day, month: month) } }
        }
        // With shared limits: from this replica's blocks, or one atomic call to the store.
        if let shared, !sharedFailing.load(ordering: .relaxed) || nowMillis - sharedFailedAt.load(ordering: .relaxed) >= 1000,
           let a = try await admitShared(shared, active, estimatedTokens: estimatedTokens, minute: minute, day: day, month: month,
                                         resetSeconds: resetSeconds, nowMillis: nowMillis) {
            return a
        }
        if shared != nil { localFallbacks.add(1, ordering: .relaxed) }
        // What this replica admitted through the store this minute counts here too, beside what it
        // admitted alone: counting alone never starts a fresh limit. What it admits alone is told to
        // the store when it answers again (`countAlone`), so the rest of the minute counts it.
        let sharedAdmitted = shared == nil ? [:] : pools.withLock { p in
            Dictionary(uniqueKeysWithValues: active.compactMap { s in p[s.key].flatMap { $0.window == minute ? (s.key, max(0, $0.used)) : nil } })
        }
        let admission = try counters.withLock { c in
            // Check everything first, then count: a refused request consumes nothing. One header
            // per name: a key's and its tenant's limits name the same ones, and the scope with
            // fewer left stands (the one that refuses first).
            var headers = RateLimitHeaders(resetSeconds: resetSeconds)
            for s in active {
                var k = c[s.key] ?? Counter()
                if k.minute != minute { k.minute = minute; k.requests = 0; k.tokens = 0 }
                if k.day != day { k.day = day; k.spentToday = 0 }
                if k.month != month { k.month = month; k.spentThisMonth = 0 }
                c[s.key] = k
                let l = s.limits
                try Self.checkCapsAndConcurrency(k, l, label: s.label, day: day, month: month)
                if let rpm = l.rpm {
                    let requests = k.requests + (sharedAdmitted[s.key] ?? 0)
                    if requests >= rpm {
                        throw Self.limited("Rate limit reached for this \(s.label): \(rpm) requests per minute. Try again in \(resetSeconds)s.", retryAfter: resetSeconds,
                                           headers: RateLimitHeaders(requests: (rpm, 0), resetSeconds: resetSeconds).pairs)
                    }
                    let left = max(0, rpm - requests - 1)
                    if left < headers.requests?.remaining ?? .max { headers.requests = (rpm, left) }
                }
                if let tpm = l.tpm {
                    if k.tokens + estimatedTokens > tpm {
                        throw Self.limited("Rate limit reached for this \(s.label): \(tpm) tokens per minute (this request needs about \(estimatedTokens); lower max_tokens or try again in \(resetSeconds)s).",
                                           retryAfter: resetSeconds, headers: RateLimitHeaders(tokens: (tpm, max(0, tpm - k.tokens)), resetSeconds: resetSeconds).pairs)
                    }
                    let left = max(0, tpm - k.tokens - estimatedTokens)
                    if left < headers.tokens?.remaining ?? .max { headers.tokens = (tpm, left) }
                }
            }
            for s in active {
                c[s.key]!.requests += 1
                c[s.key]!.tokens += estimatedTokens
                c[s.key]!.inFlight += 1
            }
            return Admission(keys: active.map(\.key), minute: minute, reservedTokens: estimatedTokens, limits: headers)
        }
        if shared != nil { countAlone(active.filter { $0.limits.rpm != nil }.map(\.key), minute: minute) }
        return admission
    }

    /// A request admitted on this replica's own count goes to the store with the next settlement;
    /// while the store does not answer, the count waits and is retried once a second, until its
    /// minute is over.
    func countAlone(_ scopes: [String], minute: Int64) {
        guard !scopes.isEmpty else { return }
        enqueueSettle { b in for s in scopes { b.requests[.init(scope: s, window: minute), default: 0] += 1 } }
    }

    /// Sends the pending settlements in one call. A failure leaves leases to expire on their own.
    public func flushSettles() async {
        guard let shared else { return }
        let batch = pendingSettles.withLock { b in
            let out = b
            b = SharedSettleBatch()
            return out
        }
        guard !batch.isEmpty else { return }
        do {
            try await shared.settle(batch)
            if settleWarnings.withLock({ $0.succeeded() }) { logger.notice("settling with the shared store again") }
        } catch {
            // Batches fail every few ms under load, and retries come every second: one warning a minute, with a count.
            if let failed = settleWarnings.withLock({ $0.failed() }) {
                logger.warning("could not settle with the shared store (\(failed) failed settle batches since the last warning): leases expire by themselves, requests counted alone are sent again",
                               metadata: ["error": "\(error)"])
            }
            let minute = Self.nowMillis() / 60_000
            let again = batch.requests.filter { $0.key.window == minute }
            guard !again.isEmpty else { return }
            pendingSettles.withLock { b in b.requests.merge(again, uniquingKeysWith: +) }
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .seconds(1)) { Task { await self.flushSettles() } }
        }
    }

    /// Adds to the pending settle batch; the first addition to a batch schedules its flush, the
    /// others ride along.
    func enqueueSettle(_ add: (inout SharedSettleBatch) -> Void) {
        let first = pendingSettles.withLock { b in
            let wasEmpty = b.isEmpty
            add(&b)
            return wasEmpty
        }
        if first {
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: Self.settleBatchDelay) {
                Task { await self.flushSettles() }
            }
        }
    }

    /// The pending lease releases of these scopes, taken out of the batch to ride on an admission.
    func takePendingReleases(of scopes: [String]) -> [(scope: String, lease: String)] {
        pendingSettles.withLock { b in
            guard b.leases.contains(where: { scopes.contains($0.scope) }) else { return [] }
            let mine = b.leases.filter { scopes.contains($0.scope) }
            b.leases.removeAll { scopes.contains($0.scope) }
            return mine
        }
    }

    /// Ends an admitted request: frees its concurrency slot, replaces the token reservation by the
    /// actual count and adds its cost to the spend windows.
    public func settle(_ a: Admission, actualTokens: Int, cost: NanoUSD, nowMillis: Int64 = nowMillis()) {
        guard !a.keys.isEmpty else { return }
        if let s = a.shared { settleShared(a, s, actualTokens: actualTokens, cost: cost, nowMillis: nowMillis) }
        let (day, month) = Self.dayAndMonth(nowMillis)
        counters.withLock { c in
            for key in a.keys {
                var k = c[key] ?? Counter()
                // Spend is also kept here, so caps still fail closed if the shared store goes away.
                if a.shared == nil {
                    k.inFlight = max(0, k.inFlight - 1)
                    if k.minute == a.minute { k.tokens = max(0, k.tokens - a.reservedTokens + actualTokens) }
                }
                if k.day != day { k.day = day; k.spentToday = 0 }
                if k.month != month { k.month = month; k.spentThisMonth = 0 }
                k.spentToday += cost
                k.spentThisMonth += cost
                c[key] = k
            }
        }
    }

    static func refused(_ r: SharedRefusal, _ s: Scope, resetSeconds: Int) -> GatewayError {
        switch r.kind {
        case .spend:
            return quota("The \(s.label)'s spend cap is used up (daily \(s.limits.dailySpendCapNano.map(Money.display) ?? "none"), monthly \(s.limits.monthlySpendCapNano.map(Money.display) ?? "none")). Ask your admin to raise it, or wait for the period to end (UTC).")
        case .concurrency:
            return limited("Too many concurrent requests for this \(s.label) across all replicas (limit \(s.limits.maxConcurrent ?? 0)). Wait for one to finish.", retryAfter: 1, headers: [])
        case .rate:
            var h: [(String, String)] = []
            if let rpm = s.limits.rpm { h += [("x-ratelimit-limit-requests", String(rpm)), ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "\(resetSeconds)s")] }
            if let tpm = s.limits.tpm { h += [("x-ratelimit-limit-tokens", String(tpm)), ("x-ratelimit-reset-tokens", "\(resetSeconds)s")] }
            let what = [s.limits.rpm.map { "\($0) requests" }, s.limits.tpm.map { "\($0) tokens" }].compactMap { $0 }.joined(separator: " or ")
            return limited("Rate limit reached for this \(s.label): \(what) per minute across all replicas. Try again in \(resetSeconds)s.", retryAfter: resetSeconds, headers: h)
        }
    }

    static func checkCapsAndConcurrency(_ k: Counter, _ l: Limits, label: String, day: Int64, month: Int64) throws {
        try checkCaps(k, l, label: label, day: day, month: month)
        if let max = l.maxConcurrent, k.inFlight >= max {
            throw limited("Too many concurrent requests for this \(label) (limit \(max)). Wait for one to finish.", retryAfter: 1, headers: [])
        }
    }

    static func checkCaps(_ k: Counter, _ l: Limits, label: String, day: Int64, month: Int64) throws {
        if let cap = l.monthlySpendCapNano, k.month == month, k.spentThisMonth >= cap {
            throw quota("The \(label)'s monthly spend cap (\(Money.display(cap))) is used up. It resets at the start of next month (UTC), or ask your admin to raise it.")
        }
        if let cap = l.dailySpendCapNano, k.day == day, k.spentToday >= cap {
            throw quota("The \(label)'s daily spend cap (\(Money.display(cap))) is used up. It resets at midnight UTC, or ask your admin to raise it.")
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
