import LucairCore
import Synchronization

/// What Lucair knows of each deployment, in memory, for choosing where a request goes: requests in
/// flight, a latency average (EWMA), a circuit breaker, and for local engines with a configured
/// capacity, slots. No I/O; every replica keeps its own.
///
/// Breaker: `failuresToOpen` consecutive failures (or an upstream 429/529 with `retry-after`) open
/// it; while open the deployment is skipped; when the cool-down ends one request at a time is let
/// through as a probe (half-open) — a success closes it, a failure opens it again.
public final class DeploymentHealth: Sendable {
    public struct Settings: Sendable {
        public var failuresToOpen: Int
        public var coolDown: Duration
        /// How long a request waits for a local slot before it spills to the next choice.
        public var slotWait: Duration
        public init(failuresToOpen: Int = 5, coolDown: Duration = .seconds(10), slotWait: Duration = .milliseconds(50)) {
            self.failuresToOpen = failuresToOpen; self.coolDown = coolDown; self.slotWait = slotWait
        }
    }

    enum Breaker: Equatable {
        case closed(failures: Int)
        case open(until: ContinuousClock.Instant)
        case halfOpen(probing: Bool)
    }

    struct State {
        var outstanding = 0
        var ewmaMicros: Double = 0
        var breaker = Breaker.closed(failures: 0)
        var capacity: Int?
        /// Taken out by an operator (`lucair engines drain`): no new requests, in-flight ones finish.
        var draining = false
        /// The engine itself says it is queueing (`EngineSignals`): new requests go elsewhere.
        var engineBusy = false
        /// Capacity came from the config (not discovered from the engine's `/slots`).
        var capacityConfigured = false
        var inUse = 0
        var waiters: [(id: Int, c: CheckedContinuation<Bool, Never>)] = []
    }

    public let settings: Settings
    let states: Mutex<[String: State]>
    let nextWaiter = Atomic<Int>(0)

    public init(deployments: [Deployment], settings: Settings = Settings()) {
        self.settings = settings
        var s: [String: State] = [:]
        for d in deployments { s[d.name] = State(capacity: d.capacity, capacityConfigured: d.capacity != nil) }
        states = Mutex(s)
    }

    /// What the outcome of an attempt says about the deployment.
    public enum Outcome: Sendable {
        case success(latency: Duration)
        /// A failure the deployment owns (connect error, timeout, 5xx, overload); `retryAfter` when it said how long to stay away.
        case failure(retryAfter: Duration?)
        /// The request's own fault (4xx): says nothing about the deployment.
        case neutral
    }

    /// A taken slot (or, for a deployment without capacity, just the in-flight count): give it back once.
    public struct Lease: Sendable {
        public let deployment: String
        let started: ContinuousClock.Instant
        let probe: Bool
    }

    /// The deployments in the order to try them: those that can take traffic first, the less loaded
    /// of two at random first (power of two choices on in-flight × latency), then those whose breaker
    /// is open (tried last rather than never: a hard fail is worse than a probe).
    public func order(_ ds: [Deployment], now: ContinuousClock.Instant = .now) -> [Deployment] {
        guard ds.count > 1 else { return ds }
        return states.withLock { s in
            var open: [Deployment] = [], usable: [Deployment] = []
            for d in ds {
                switch s[d.name]?.breaker {
                case .open(let until)? where until > now: open.append(d)
                case .halfOpen(probing: true)?: open.append(d)
                default: usable.append(d)
                }
            }
            if usable.count >= 2 {
                let i = Int.random(in: 0..<usable.count)
                var j = Int.random(in: 0..<(usable.count - 1))
                if j >= i { j += 1 }
                func load(_ d: Deployment) -> Double {
                    let st = s[d.name] ?? State()
                    return Double(st.outstanding + 1) * max(st.ewmaMicros, 1)
                }
                let best = load(usable[j]) < load(usable[i]) ? j : i
                usable.swapAt(0, best)
            }
            return usable + open
        }
    }

    /// Takes a slot on `d`, waiting at most `settings.slotWait` for one; nil when the deployment is
    /// busy (every slot taken) or its breaker is open (and not due for a probe).
    /// `force`: the last resort when nothing else could take the request — the breaker is ignored
    /// (the slots are not).
    public func acquire(_ d: Deployment, force: Bool = false, now: ContinuousClock.Instant = .now) async -> Lease? {
        enum Step { case go(probe: Bool), refuse, wait }
        let step = states.withLock { s -> Step in
            var st = s[d.name] ?? State(capacity: d.capacity)
            defer { s[d.name] = st }
            if st.draining || (st.engineBusy && !force) { return .refuse }
            var probe = false
            switch force ? .closed(failures: 0) : st.breaker {
            case .open(let until):
                guard until <= now else { return .refuse }
                st.breaker = .halfOpen(probing: true)
                probe = true
            case .halfOpen(let probing):
                guard !probing else { return .refuse }
                st.breaker = .halfOpen(probing: true)
                probe = true
            case .closed:
                break
            }
            if let cap = st.capacity, st.inUse >= cap {
                if probe { st.breaker = .halfOpen(probing: false) }
                return .wait
            }
            st.inUse += 1
            st.outstanding += 1
            return .go(probe: probe)
        }
        switch step {
        case .go(let probe): return Lease(deployment: d.name, started: .now, probe: probe)
        case .refuse: return nil
        case .wait: return await waitForSlot(d, id: nextWaiter.add(1, ordering: .relaxed).newValue)
        }
    }

    func waitForSlot(_ d: Deployment, id: Int) async -> Lease? {
        let granted = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let resumeNow = states.withLock { s -> Bool? in
                guard var st = s[d.name] else { return false }
                if let cap = st.capacity, st.inUse < cap {  // freed meanwhile
                    st.inUse += 1
                    st.outstanding += 1
                    s[d.name] = st
                    return true
                }
                st.waiters.append((id, c))
                s[d.name] = st
                return nil
            }
            if let resumeNow {
                c.resume(returning: resumeNow)
            } else {
                // Started only once the waiter is registered, so it cannot fire before there is one
                // to time out; a no-op if a released slot reached the waiter first.
                Task { [settings] in
                    try? await Task.sleep(for: settings.slotWait)
                    self.resumeWaiter(d.name, id: id, granted: false)
                }
            }
        }
        return granted ? Lease(deployment: d.name, started: .now, probe: false) : nil
    }

    /// Resumes one waiter: granted, it has been given the slot already; not granted, it timed out.
    func resumeWaiter(_ name: String, id: Int, granted: Bool) {
        let c = states.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard var st = s[name], let i = st.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let w = st.waiters.remove(at: i)
            s[name] = st
            return w.c
        }
        c?.resume(returning: granted)
    }

    /// Gives the slot back and learns from the outcome. The slot goes straight to the oldest waiter.
    public func release(_ lease: Lease, _ outcome: Outcome, now: ContinuousClock.Instant = .now) {
        let handOff = states.withLock { s -> ([CheckedContinuation<Bool, Never>], Bool) in
            guard var st = s[lease.deployment] else { return ([], false) }
            defer { s[lease.deployment] = st }
            switch outcome {
            case .success(let latency):
                let us = Double(latency.components.seconds) * 1e6 + Double(latency.components.attoseconds) / 1e12
                st.ewmaMicros = st.ewmaMicros == 0 ? us : 0.8 * st.ewmaMicros + 0.2 * us
                st.breaker = .closed(failures: 0)
            case .failure(let retryAfter):
                switch st.breaker {
                case .closed(let f) where retryAfter == nil && f + 1 < settings.failuresToOpen:
                    st.breaker = .closed(failures: f + 1)
                default:
                    st.breaker = .open(until: now + max(retryAfter ?? .zero, lease.probe || retryAfter == nil ? settings.coolDown : .zero))
                }
            case .neutral:
                if lease.probe { st.breaker = .halfOpen(probing: false) }
            }
            if case .closed = st.breaker {
                // The slot passes to the oldest waiter without ever being free.
                if !st.waiters.isEmpty { return ([st.waiters.removeFirst().c], true) }
            } else if !st.waiters.isEmpty {
                // Broken: nobody waits on it any longer; they spill now rather than at their bound.
                let all = st.waiters.map(\.c)
                st.waiters.removeAll()
                st.inUse -= 1
                st.outstanding -= 1
                return (all, false)
            }
            st.inUse -= 1
            st.outstanding -= 1
            return ([], false)
        }
        for c in handOff.0 { c.resume(returning: handOff.1) }
    }

    /// What a local engine reports of itself: queueing (`busy`), and its slot count, which becomes
    /// the deployment's capacity unless the config set one.
    public func applySignals(_ name: String, busy: Bool, slots: Int?) {
        states.withLock { s in
            guard var st = s[name] else { return }
            st.engineBusy = busy
            if let slots, slots > 0, !st.capacityConfigured { st.capacity = slots }
            s[name] = st
        }
    }

    /// Drains (or returns to service) deployments by name; returns their requests still in flight.
    @discardableResult
    public func setDraining(_ names: [String], _ draining: Bool) -> Int {
        let (inFlight, refused) = states.withLock { s -> (Int, [CheckedContinuation<Bool, Never>]) in
            var n = 0
            var refused: [CheckedContinuation<Bool, Never>] = []
            for name in names {
                guard var st = s[name] else { continue }
                st.draining = draining
                if draining {  // whoever waits for a slot here spills now
                    refused += st.waiters.map(\.c)
                    st.waiters.removeAll()
                }
                n += st.outstanding
                s[name] = st
            }
            return (n, refused)
        }
        for c in refused { c.resume(returning: false) }
        return inFlight
    }

    /// For /health and /metrics.
    public struct Snapshot: Sendable {
        public var name: String
        public var draining: Bool
        public var engineBusy: Bool
        public var state: String
        public var outstanding: Int
        public var capacity: Int?
        public var ewmaMillis: Double
    }

    public func snapshot(now: ContinuousClock.Instant = .now) -> [Snapshot] {
        states.withLock { s in
            s.keys.sorted().map { name in
                let st = s[name]!
                let state: String
                switch st.breaker {
                case .closed: state = "closed"
                case .open(let until): state = until > now ? "open" : "half_open"
                case .halfOpen: state = "half_open"
                }
                return Snapshot(name: name, draining: st.draining, engineBusy: st.engineBusy, state: state, outstanding: st.outstanding, capacity: st.capacity, ewmaMillis: st.ewmaMicros / 1000)
            }
        }
    }
}
