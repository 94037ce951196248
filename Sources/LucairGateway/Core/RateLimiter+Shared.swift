import LucairCore
import LucairStorage
import NIOCore
import NIOPosix

/// This replica's share of one scope's shared limits: quota the store granted in blocks, spent here
/// without a round trip per request.
///
/// The store counts what it grants, so the combined count across replicas never exceeds a limit;
/// quota granted to a replica and not used before the minute ends is lost for that minute, so the
/// combined count can fall short of a limit by the blocks other replicas hold unused (a block is
/// 1/64 of the limit; a burst of short requests takes at most 4 at once). Limits under 64 get no
/// blocks: every request asks the store for its own unit.
struct QuotaPool {
    var window: Int64 = -1
    /// Granted and unused in `window`. Below zero while requests wait on grants for the difference.
    var requests = 0
    var tokens = 0
    /// Concurrency slots held in the store (a lease row each) and free here.
    var freeSlots: [RateLimiter.Slot] = []
    var lastSlotUse: Int64 = 0
    var keepIdleSlots = 0
    var releaseScheduled = false
    /// The scope's spend as last read from the store, plus what this replica added since.
    var spendDay = ""
    var spentToday: NanoUSD = 0
    var spentThisMonth: NanoUSD = 0
    var spendReadAt: Int64 = .min
    var refilling = false
    /// The store had nothing left to top up with in this window: no more refills until the next.
    var drainedWindow: Int64 = -1
    /// A block of the next minute, taken in the last seconds of this one, so that a busy scope's
    /// first request of a minute does not wait on the store.
    var next: (window: Int64, requests: Int, tokens: Int) = (-1, 0, 0)
    /// Requests the store admitted against `window` here, from blocks or grants (`giveBack` takes
    /// back the rest): a scope with fewer than `aheadUse` takes no block ahead, and counting alone,
    /// if the store stops answering, adds them.
    var used = 0
    /// Requests on their way to the store asking for a block (`blockAsks` at most).
    var blockAsks = 0

    /// A block is 1/64 of a limit: small enough that blocks idle on other replicas cost little.
    static let share = 64
    static func block(_ limit: Int?) -> Int { (limit ?? 0) / share }
    /// How long before a minute ends a scope in use takes its block of the next one.
    static let aheadMillis: Int64 = 5_000
    static let aheadUse = 16
    /// Short requests of one scope that may ask for a block at once; more ask for their own share.
    static let blockAsks = 4
    /// Background grants (top-ups and blocks ahead) in flight at once, per replica: a burst of them
    /// (every scope of a busy replica at a minute's end) would queue the requests that must ask the
    /// store behind them. Past this, a scope's next request asks the store itself, as without blocks.
    static let backgroundGrants = 4
    /// How stale the spend read from the store may be before a capped scope asks again.
    static let spendFreshMillis: Int64 = 100
    /// A free slot beyond the ones kept (1/64 of the limit; none under 64, whose slots go back with
    /// the next batch) goes back after this long unused.
    static let slotIdleMillis: Int64 = 20
    /// A slot is reused for this long, then renewed (its lease row expires after `leaseMillis`).
    static let slotMaxAgeMillis: Int64 = 5 * 60_000
    /// Lease rows outlive any request (the longest upstream timeout); a dead replica's expire.
    static let leaseMillis: Int64 = 15 * 60_000

    mutating func roll(to minute: Int64) -> Bool {
        guard window != minute else { return false }
        window = minute
        (requests, tokens) = next.window == minute ? (next.requests, next.tokens) : (0, 0)
        next = (-1, 0, 0)
        used = 0
        return true
    }

    /// Takes `amount` from a block; returns how much of it the store must grant (the part below zero).
    static func take(_ amount: Int, from pool: inout Int) -> Int {
        let before = pool
        pool -= amount
        return max(0, -pool) - max(0, -before)
    }

    mutating func takeSlot(now: Int64, stale: inout [RateLimiter.Slot]) -> RateLimiter.Slot? {
        while let s = freeSlots.popLast() {
            if now - s.grantedAt < Self.slotMaxAgeMillis { return s }
            stale.append(s)
        }
        return nil
    }

    func spendFresh(now: Int64, day: String) -> Bool { spendDay == day && now - spendReadAt <= Self.spendFreshMillis }

    /// The background top-up this scope wants, if any (and none is on its way): its block of this
    /// minute when under half, else, in the minute's last seconds, its block of the next minute.
    func topUp(_ scope: String, _ l: Limits, minute: Int64, ahead: Bool) -> (nextMinute: Bool, ask: SharedGrantRequest.Scope)? {
        guard !refilling else { return nil }
        let br = Self.block(l.rpm), bt = Self.block(l.tpm)
        let lowRequests = br > 1 && requests < br / 2, lowTokens = bt > 1 && tokens < bt / 2
        if drainedWindow != minute, lowRequests || lowTokens {
            return (false, Self.blockAsk(scope, l, requests: lowRequests, tokens: lowTokens))
        }
        if ahead, used >= Self.aheadUse, next.window != minute + 1, br > 1 || bt > 1 {
            return (true, Self.blockAsk(scope, l, requests: br > 1, tokens: bt > 1))
        }
        return nil
    }

    /// An ask for a block of requests and / or tokens, and nothing this request needs.
    static func blockAsk(_ scope: String, _ l: Limits, requests: Bool, tokens: Bool) -> SharedGrantRequest.Scope {
        var ask = SharedGrantRequest.Scope(scope: scope, limits: l)
        ask.wantRequests = requests ? block(l.rpm) : 0
        ask.wantTokens = tokens ? block(l.tpm) : 0
        return ask
    }
}

extension RateLimiter {
    /// Admits from this replica's blocks, or with one call to the store for the scopes whose blocks
    /// are short. Returns nil when the store did not answer (the caller counts locally).
    func admitShared(_ shared: any SharedLimits, _ active: [Scope], estimatedTokens: Int, minute: Int64, day: Int64, month: Int64,
                     resetSeconds: Int, nowMillis now: Int64) async throws -> Admission? {
        let dayKey = "d:\(day)", monthKey = "m:\(month)"
        var part = SharedPart(day: dayKey, month: monthKey)
        var asks: [SharedGrantRequest.Scope] = []
        var stale: [Slot] = []
        var rolled: [String] = []
        var blockAskers: [String] = []
        var topUps: [(nextMinute: Bool, ask: SharedGrantRequest.Scope)] = []
        let ahead = now % 60_000 >= 60_000 - QuotaPool.aheadMillis
        try pools.withLock { p in
            // Caps first, from the spend last read (refused here, nothing is taken).
            for s in active where s.limits.hasSpendCap {
                if let pool = p[s.key], pool.spendFresh(now: now, day: dayKey) {
                    try Self.checkCaps(Counter(day: day, spentToday: pool.spentToday, month: month, spentThisMonth: pool.spentThisMonth),
                                       s.limits, label: s.label, day: day, month: month)
                }
            }
            for s in active {
                let l = s.limits
                var pool = p[s.key] ?? QuotaPool()
                if pool.roll(to: minute) { rolled.append(s.key) }
                pool.used += 1
                var ask = SharedGrantRequest.Scope(scope: s.key, limits: l)
                if l.rpm != nil {
                    ask.needRequests = QuotaPool.take(1, from: &pool.requests)
                    part.requestScopes.append(s.key)
                }
                if l.tpm != nil {
                    ask.needTokens = QuotaPool.take(estimatedTokens, from: &pool.tokens)
                    part.tokenScopes.append(s.key)
                }
                if let c = l.maxConcurrent {
                    pool.keepIdleSlots = QuotaPool.block(c)
                    if let slot = pool.takeSlot(now: now, stale: &stale) { part.slots.append(slot) } else { ask.slot = true }
                }
                let capped = l.hasSpendCap
                if capped { part.spendScopes.append(s.key) }
                if ask.needRequests > 0 || ask.needTokens > 0 || ask.slot || (capped && !pool.spendFresh(now: now, day: dayKey)) {
                    // A short request asks for a block, unless several are on their way already:
                    // a burst at a minute's start may not take a block for every request in it.
                    let block = (ask.needRequests > 0 || ask.needTokens > 0) && pool.blockAsks < QuotaPool.blockAsks
                    ask.wantRequests = ask.needRequests > 0 ? max(ask.needRequests, block ? QuotaPool.block(l.rpm) : 0) : 0
                    ask.wantTokens = ask.needTokens > 0 ? max(ask.needTokens, block ? QuotaPool.block(l.tpm) : 0) : 0
                    if block {
                        pool.blockAsks += 1
                        blockAskers.append(s.key)
                    }
                    asks.append(ask)
                }
                if let t = pool.topUp(s.key, l, minute: minute, ahead: ahead) { topUps.append(t) }
                p[s.key] = pool
            }
            // Served from blocks: top up in the background. One grant per call, so for one window:
            // this minute's blocks first.
            guard asks.isEmpty, !topUps.isEmpty else {
                topUps = []
                return
            }
            if topUps.contains(where: { !$0.nextMinute }) { topUps.removeAll { $0.nextMinute } }
            guard backgroundGrants.add(1, ordering: .relaxed).newValue <= QuotaPool.backgroundGrants else {
                backgroundGrants.subtract(1, ordering: .relaxed)
                topUps = []
                return
            }
            for t in topUps { p[t.ask.scope]?.refilling = true }
        }
        if !stale.isEmpty { enqueueSettle { $0.leases += stale.map { ($0.scope, $0.lease) } } }  // slots past their age go back
        if !rolled.isEmpty, prunedMinute.exchange(minute, ordering: .relaxed) != minute {
            // This replica's first request of a minute: old windows and dead replicas' leases go.
            Task { try? await shared.prune(window: minute, nowMillis: now) }
        }
        let admission = Admission(keys: active.map(\.key), minute: minute, reservedTokens: estimatedTokens, shared: part, limits: RateLimitHeaders())
        if asks.isEmpty {
            if let first = topUps.first {
                topUp(shared, topUps.map(\.ask), window: first.nextMinute ? minute + 1 : minute, dayKey: dayKey, monthKey: monthKey, nowMillis: now)
            }
            return admission
        }

        sharedRoundTrips.add(1, ordering: .relaxed)
        let lease = asks.contains { $0.slot } ? APIKeys.randomId("lease") : ""
        var request = SharedGrantRequest(scopes: asks, window: minute, day: dayKey, month: monthKey, lease: lease, nowMillis: now,
                                         leaseMillis: QuotaPool.leaseMillis)
        if !lease.isEmpty { request.releases = takePendingReleases(of: asks.filter(\.slot).map(\.scope)) }
        let sent = request
        // This request's slot leases: what goes back if the store grants them after all.
        let mine = asks.filter(\.slot).map { (scope: $0.scope, lease: lease) }
        defer {
            if !blockAskers.isEmpty { pools.withLock { p in for key in blockAskers { p[key]?.blockAsks -= 1 } } }
        }
        do {
            let answer = try await Self.withDeadline(Self.sharedDeadline, late: { [weak self] answer in
                // Counted here alone already: a slot the store granted after all goes straight back,
                // and so do the requests it counted (what was admitted alone is told to it apart).
                guard case .granted(let shares) = answer else { return }
                let counted = zip(sent.scopes, shares).filter { $0.1.requests > 0 }.map { (key: SharedSettleBatch.WindowKey(scope: $0.0.scope, window: minute), n: $0.1.requests) }
                guard !mine.isEmpty || !counted.isEmpty else { return }
                self?.enqueueSettle { b in
                    b.leases += mine
                    for c in counted { b.requests[c.key, default: 0] -= c.n }
                }
            }) { try await shared.grant(sent) }
            if sharedFailing.exchange(false, ordering: .relaxed) { logger.notice("shared limits reachable again") }
            switch answer {
            case .granted(let shares):
                var granted = admission
                pools.withLock { p in
                    for (ask, share) in zip(asks, shares) {
                        var pool = p[ask.scope] ?? QuotaPool()
                        Self.add(share, of: ask, to: &pool, window: minute, dayKey: dayKey, now: now)
                        p[ask.scope] = pool
                        if ask.slot { granted.shared?.slots.append(Slot(scope: ask.scope, lease: lease, grantedAt: now)) }
                    }
                }
                return granted
            case .refused(let r):
                giveBack(admission)
                let scope = asks[r.scopeIndex].scope
                throw Self.refused(r, active.first { $0.key == scope } ?? active[0], resetSeconds: resetSeconds)
            }
        } catch let e as GatewayError {
            throw e
        } catch {
            giveBack(admission)
            if !sent.releases.isEmpty { enqueueSettle { $0.leases.append(contentsOf: sent.releases) } }  // the batch frees them
            if !mine.isEmpty {
                // A grant given up on may still commit at the store (its answer then goes to `late`
                // above, or it was lost with its connection), and its slot would stay taken for the
                // lease's 15 minutes: a key limited to one request at a time, locked out on every
                // replica. Nothing holds this lease here, so it goes back once a late commit had
                // time to land.
                MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: Self.lateGrantRelease) {
                    self.enqueueSettle { $0.leases += mine }
                }
            }
            // Every request counts here until the store is retried, a second on: asked again at once,
            // the store could still hold this request's slot from a grant that commits late, and
            // refuse the next request of a key limited to one at a time.
            sharedFailedAt.store(now, ordering: .relaxed)
            if !sharedFailing.exchange(true, ordering: .relaxed) {
                logger.error("shared limits unreachable; counting per replica until they return", metadata: ["error": "\(error)"])
            }
            return nil
        }
    }

    /// A grant's share joins the scope's blocks (unless the minute has moved on since it was asked).
    static func add(_ share: SharedGrant.Share, of ask: SharedGrantRequest.Scope, to pool: inout QuotaPool, window: Int64, dayKey: String, now: Int64) {
        if pool.window == window {
            pool.requests += share.requests
            pool.tokens += share.tokens
            if share.requests < ask.wantRequests || share.tokens < ask.wantTokens { pool.drainedWindow = window }
        } else if window == pool.window + 1 {
            pool.next = (window, pool.next.window == window ? pool.next.requests + share.requests : share.requests,
                         pool.next.window == window ? pool.next.tokens + share.tokens : share.tokens)
        }
        if ask.limits.hasSpendCap {
            pool.spendDay = dayKey
            pool.spentToday = share.spentToday
            pool.spentThisMonth = share.spentThisMonth
            pool.spendReadAt = now
        }
    }

    /// Undoes what an admission took from the blocks (refused, or not counted by the store).
    func giveBack(_ a: Admission) {
        guard let s = a.shared else { return }
        pools.withLock { p in
            for key in a.keys where p[key]?.window == a.minute { p[key]!.used -= 1 }
            for key in s.requestScopes where p[key]?.window == a.minute { p[key]!.requests += 1 }
            for key in s.tokenScopes where p[key]?.window == a.minute { p[key]!.tokens += a.reservedTokens }
            for slot in s.slots { p[slot.scope]?.freeSlots.append(slot) }
        }
    }

    /// Asks for the blocks of a background top-up (counted in `backgroundGrants` by the caller,
    /// who also marked the scopes `refilling`).
    func topUp(_ shared: any SharedLimits, _ asks: [SharedGrantRequest.Scope], window: Int64, dayKey: String, monthKey: String, nowMillis now: Int64) {
        let request = SharedGrantRequest(scopes: asks, window: window, day: dayKey, month: monthKey, lease: "", nowMillis: now, leaseMillis: QuotaPool.leaseMillis)
        Task {
            // No deadline off the request path: blocks the store granted, however late, are used
            // (dropped, they would count against the limit on every replica for the minute).
            let answer = try? await shared.grant(request)
            self.backgroundGrants.subtract(1, ordering: .relaxed)
            self.pools.withLock { p in
                for (i, ask) in asks.enumerated() {
                    guard var pool = p[ask.scope] else { continue }
                    pool.refilling = false
                    switch answer {
                    case .granted(let shares)?: Self.add(shares[i], of: ask, to: &pool, window: window, dayKey: dayKey, now: now)
                    case .refused?: pool.spendReadAt = .min  // a spend cap: the next request asks the store itself
                    case nil: break
                    }
                    p[ask.scope] = pool
                }
            }
        }
    }

    /// Ends a request counted by the store: unused reserved tokens go back to the blocks, slots back
    /// to the free ones, spend to the next batch.
    func settleShared(_ a: Admission, _ s: SharedPart, actualTokens: Int, cost: NanoUSD, nowMillis now: Int64) {
        var schedule: [String] = []
        var release: [Slot] = []
        pools.withLock { p in
            for key in s.tokenScopes where p[key]?.window == a.minute { p[key]!.tokens += a.reservedTokens - actualTokens }
            for key in s.spendScopes where p[key] != nil {
                p[key]!.spentToday += cost
                p[key]!.spentThisMonth += cost
            }
            for slot in s.slots {
                guard var pool = p[slot.scope], pool.keepIdleSlots > 0 else {
                    release.append(slot)  // a limit under 64 keeps no slot: back with the next batch, as soon as possible
                    continue
                }
                pool.freeSlots.append(slot)
                pool.lastSlotUse = now
                if pool.freeSlots.count > pool.keepIdleSlots && !pool.releaseScheduled {
                    pool.releaseScheduled = true
                    schedule.append(slot.scope)
                }
                p[slot.scope] = pool
            }
        }
        for scope in schedule { scheduleSlotRelease(scope) }
        if !release.isEmpty || (cost != 0 && !s.spendScopes.isEmpty) {
            enqueueSettle { b in
                b.leases += release.map { ($0.scope, $0.lease) }
                guard cost != 0 else { return }
                for key in s.spendScopes {
                    b.spend[.init(scope: key, period: s.day), default: 0] += cost
                    b.spend[.init(scope: key, period: s.month), default: 0] += cost
                }
            }
        }
    }

    /// Free slots beyond the kept ones go back to the store once unused for `slotIdleMillis`, so
    /// another replica can take them.
    func scheduleSlotRelease(_ scope: String) {
        MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .milliseconds(QuotaPool.slotIdleMillis)) {
            let now = Self.nowMillis()
            let (released, again) = self.pools.withLock { p -> ([Slot], Bool) in
                guard var pool = p[scope] else { return ([], false) }
                var out: [Slot] = []
                if now - pool.lastSlotUse >= QuotaPool.slotIdleMillis, pool.freeSlots.count > pool.keepIdleSlots {
                    out = Array(pool.freeSlots.prefix(pool.freeSlots.count - pool.keepIdleSlots))  // the oldest
                    pool.freeSlots.removeFirst(out.count)
                }
                pool.releaseScheduled = pool.freeSlots.count > pool.keepIdleSlots
                p[scope] = pool
                return (out, pool.releaseScheduled)
            }
            if !released.isEmpty { self.enqueueSettle { $0.leases += released.map { ($0.scope, $0.lease) } } }
            if again { self.scheduleSlotRelease(scope) }
        }
    }
}
