import Logging
import LucairCore
import LucairStorage
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Writes usage records off the request path: `record` appends to an in-memory buffer and wakes the
/// writer; the writer (a service) takes everything buffered as one batch, stores it in one
/// transaction, and flushes what is left on shutdown. Records pile up while a batch is being
/// written, so batches grow with load (group commit).
public final class UsageWriter: Service, Sendable {
    let storage: any Storage
    let logger: Logger
    let metrics: GatewayMetrics?
    /// Awaited on shutdown before the last drain: requests still finishing record their usage
    /// after the HTTP server has stopped (their connections closed, their tasks metering).
    let producersEnded: @Sendable () async -> Void
    let buffer = Mutex<[UsageRecord]>([])
    /// Records whose answer waits until they are stored (prepaid: money moved): registered by
    /// `record(_:durable:)`, marked stored by the writer, awaited by `stored`.
    enum Wait { case pending, stored, waiting(CheckedContinuation<Void, Never>) }
    let waits = Mutex<[String: Wait]>([:])
    let wake: AsyncStream<Void>
    let wakeContinuation: AsyncStream<Void>.Continuation
    /// The writer while it lets a batch gather (`gather`).
    let lingering = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let enqueued = Atomic<Int>(0)
    let settled = Atomic<Int>(0)
    /// Set once `run` has returned: nothing will be written any more, so nobody may wait for it.
    let stopped = Atomic<Bool>(false)

    public init(storage: any Storage, logger: Logger, metrics: GatewayMetrics? = nil, producersEnded: @escaping @Sendable () async -> Void = {}) {
        self.storage = storage
        self.logger = logger
        self.metrics = metrics
        self.producersEnded = producersEnded
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// `durable`: the caller will `await stored(r.requestId)` before answering.
    public func record(_ r: UsageRecord, durable: Bool = false) {
        if stopped.load(ordering: .relaxed) {
            logger.critical("usage recorded after the usage writer stopped; it is not stored", metadata: ["request_id": "\(r.requestId)"])
            return
        }
        if durable { waits.withLock { $0[r.requestId] = .pending } }
        enqueued.add(1, ordering: .relaxed)
        let count = buffer.withLock { $0.append(r); return $0.count }
        wakeContinuation.yield()
        if durable || count == Self.lingerBelow { endLinger() }
    }

    /// Returns once the record of `requestId` (already passed to `record`) is stored with its
    /// ledger entry and transfer — or given up on after the writer's retries.
    public func stored(_ requestId: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = waits.withLock { w -> Bool in
                if stopped.load(ordering: .relaxed) { w[requestId] = nil; return true }
                switch w[requestId] {
                case .pending?: w[requestId] = .waiting(c); return false
                default: w[requestId] = nil; return true  // stored already, or never registered
                }
            }
            if resumeNow { c.resume() }
        }
    }

    func finished(_ batch: [UsageRecord]) {
        for r in batch {
            let waiting = waits.withLock { w -> CheckedContinuation<Void, Never>? in
                switch w[r.requestId] {
                case .pending?: w[r.requestId] = .stored; return nil
                case .waiting(let c)?: w[r.requestId] = nil; return c
                default: return nil
                }
            }
            waiting?.resume()
        }
    }

    /// Records accepted but not yet stored (or given up on).
    public var pending: Int { enqueued.load(ordering: .relaxed) - settled.load(ordering: .relaxed) }

    /// Waits until everything recorded so far is stored (tests, shutdown), the writer stops, or the
    /// caller is cancelled.
    public func flush() async {
        while pending > 0, !stopped.load(ordering: .relaxed), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(2)) }
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            // Group commit: each batch waits first for records to gather (unless an answer waits on
            // its commit), so one transaction carries many. Most of a commit's cost is per
            // transaction (the chain heads, the pages it rewrites, the WAL sync): at a few thousand
            // requests a second, batches of ~100 cost a fraction of batches of ~10.
            for await _ in wake { await drain(gathering: true) }
            await producersEnded()
            await drain(gathering: false)
        } onGracefulShutdown: {
            self.wakeContinuation.finish()
        }
        stop()
    }

    /// After the last drain: a request still waiting for its record is answered rather than left
    /// hanging (its record was stored or given up on; nothing further will come).
    func stop() {
        stopped.store(true, ordering: .relaxed)
        let waiting = waits.withLock { w -> [CheckedContinuation<Void, Never>] in
            let out = w.values.compactMap { if case .waiting(let c) = $0 { c } else { nil } }
            w.removeAll()
            return out
        }
        for c in waiting { c.resume() }
    }

    /// The most records one transaction takes: batches grow with load up to this, and a backlog
    /// after an outage drains in bounded transactions.
    static let maxBatch = 4096
    /// How long the writer lets a batch grow when no answer waits on it.
    static let linger = TimeAmount.milliseconds(10)
    static let lingerBelow = 1024

    /// Waits up to `linger` for a batch to gather. A record an answer waits on, or a batch grown
    /// to `lingerBelow`, ends the wait at once (`endLinger`): one timer per batch, no polling.
    func gather() async {
        guard waits.withLock({ $0.isEmpty }), buffer.withLock({ $0.count < Self.lingerBelow }) else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            lingering.withLock { $0 = c }
            // A durable record that came in since the check above found no one to wake.
            if !waits.withLock({ $0.isEmpty }) { endLinger() }
            MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: Self.linger) { self.endLinger() }
        }
    }

    /// Ends the writer's current wait for a batch, if it is waiting (a late timer may end a later
    /// wait early: only a smaller batch).
    func endLinger() {
        lingering.withLock { c in
            defer { c = nil }
            return c
        }?.resume()
    }

    /// Everything buffered, up to `maxBatch` records.
    func take() -> [UsageRecord] {
        buffer.withLock { b -> [UsageRecord] in
            if b.count <= Self.maxBatch {
                // Hand the whole buffer over (no copy); a backlog's capacity is not kept around.
                defer { b = [] }
                return b
            }
            let out = Array(b.prefix(Self.maxBatch))
            b.removeFirst(Self.maxBatch)
            return out
        }
    }

    /// Writes everything buffered, letting each batch gather first unless shutting down.
    func drain(gathering: Bool) async {
        while true {
            if gathering { await gather() }
            let batch = take()
            if batch.isEmpty { return }
            await write(batch)
        }
    }

    func write(_ batch: [UsageRecord]) async {
        defer {
            settled.add(batch.count, ordering: .relaxed)
            finished(batch)
        }
        for attempt in 1...5 {
            do {
                let started = ContinuousClock.now
                try await storage.insertUsage(batch)
                if let metrics {
                    metrics.usageCommit.recordMicroseconds((ContinuousClock.now - started).micros)
                    metrics.usageBatch.record(batch.count)
                    metrics.usageStored.increment(by: batch.count)
                }
                return
            } catch {
                logger.error("usage write failed; retrying", metadata: ["attempt": "\(attempt)", "records": "\(batch.count)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
        metrics?.usageDropped.increment(by: batch.count)
        logger.critical("usage records dropped after 5 attempts: storage is failing", metadata: ["records": "\(batch.count)", "first_request_id": "\(batch.first?.requestId ?? "")"])
    }
}

/// A count of chat answers running in tasks of their own (`ChatFastPath`): on shutdown the HTTP
/// server stops once its connections are closed, while an answer cut with its connection is still
/// metering; the usage writer waits for this count to reach zero before its last drain.
final class AnswersInFlight: Sendable {
    let count = Atomic<Int>(0)

    func began() { count.add(1, ordering: .relaxed) }
    func ended() { count.subtract(1, ordering: .relaxed) }

    /// Returns once no answer is in flight, or after `limit`.
    func allEnded(within limit: Duration) async {
        let end = ContinuousClock.now + limit
        while count.load(ordering: .relaxed) > 0, ContinuousClock.now < end { try? await Task.sleep(for: .milliseconds(5)) }
    }
}
