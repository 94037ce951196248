import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// Prometheus metrics, one registry per gateway instance (tests build several in one process, so
/// nothing is bootstrapped globally).
public final class GatewayMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        // Lucair's own time per request is tens to hundreds of microseconds: finer buckets.
        f.durationHistogramBuckets["lucair_overhead_seconds"] = [
            .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
            .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100),
        ]
        // A usage batch's transaction: a few hundred microseconds for tens of records; seconds mean
        // the disk or the database is in trouble.
        f.durationHistogramBuckets["lucair_usage_commit_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2.5),
        ]
        f.valueHistogramBuckets["lucair_usage_batch_records"] = [1, 4, 16, 64, 256, 1024, 4096]
        factory = f
        usageCommit = Metrics.Timer(label: "lucair_usage_commit_seconds", factory: f)
        usageBatch = Recorder(label: "lucair_usage_batch_records", factory: f)
        usageStored = CoreMetrics.Counter(label: "lucair_usage_records_stored_total", factory: f)
        usageDropped = CoreMetrics.Counter(label: "lucair_usage_records_dropped_total", factory: f)
        overheadComplete = Metrics.Timer(label: "lucair_overhead_seconds", dimensions: [("kind", "complete")], factory: f)
        overheadStreamOpen = Metrics.Timer(label: "lucair_overhead_seconds", dimensions: [("kind", "stream_open")], factory: f)
    }

    /// Lucair's own time on a request (handler time less upstream time): a whole non-streaming
    /// answer, or a stream up to its head.
    public let overheadComplete, overheadStreamOpen: Metrics.Timer

    /// The usage writer (UsageWriter): how long each batch's transaction took and how many records
    /// it carried, records stored, and records given up on after the writer's retries. A commit
    /// keeps a core busy for its whole duration: at low load, the requests that overlap one are
    /// the slowest (docs/benchmarks.md, session 12).
    public let usageCommit: Metrics.Timer
    public let usageBatch: Recorder
    public let usageStored, usageDropped: CoreMetrics.Counter

    /// The handles every served request updates, made once per (endpoint, tier, model) instead of
    /// looked up in the registry (name checks, a lock, label hashing) nine times per request.
    public struct Served: Sendable {
        public let ok: CoreMetrics.Counter
        public let input, cachedInput, cacheWrite, output: CoreMetrics.Counter
        public let cost: CoreMetrics.Counter
        public let duration: Metrics.Timer
    }

    struct ServedKey: Hashable { let endpoint, tier, model: String }
    let servedCache = Mutex<[ServedKey: Served]>([:])

    public func served(endpoint: String, tier: String, model: String) -> Served {
        Self.cached(servedCache, ServedKey(endpoint: endpoint, tier: tier, model: model)) {
            Served(ok: requests(endpoint: endpoint, tier: tier, model: model, status: 200),
                   input: tokens(kind: "input", tier: tier, model: model), cachedInput: tokens(kind: "cached_input", tier: tier, model: model),
                   cacheWrite: tokens(kind: "cache_write", tier: tier, model: model), output: tokens(kind: "output", tier: tier, model: model),
                   cost: costNano(tier: tier, model: model), duration: duration("lucair_request_duration_seconds", tier: tier))
        }
    }

    /// A handle made once per label set: a registry lookup (name checks, a lock, label hashing)
    /// costs more than the update it serves.
    static func cached<K: Hashable & Sendable, V: Sendable>(_ cache: borrowing Mutex<[K: V]>, _ key: K, _ make: () -> V) -> V {
        if let v = cache.withLock({ $0[key] }) { return v }
        let v = make()
        cache.withLock { $0[key] = v }
        return v
    }

    public func requests(endpoint: String, tier: String, model: String, status: Int) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "lucair_requests_total", dimensions: [("endpoint", endpoint), ("tier", tier), ("model", model), ("status", String(status))], factory: factory)
    }

    public func tokens(kind: String, tier: String, model: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "lucair_tokens_total", dimensions: [("kind", kind), ("tier", tier), ("model", model)], factory: factory)
    }

    public func costNano(tier: String, model: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "lucair_cost_nano_usd_total", dimensions: [("tier", tier), ("model", model)], factory: factory)
    }

    /// `auto` decisions: the tier served, the task assessed, and whether the router escalated.
    public func routes(tier: String, task: String, escalated: Bool) -> CoreMetrics.Counter {
        Self.cached(routesCache, RouteKey(tier: tier, task: task, escalated: escalated)) {
            CoreMetrics.Counter(label: "lucair_route_decisions_total", dimensions: [("tier", tier), ("task", task), ("escalated", escalated ? "true" : "false")], factory: factory)
        }
    }

    struct RouteKey: Hashable { let tier, task: String; let escalated: Bool }
    let routesCache = Mutex<[RouteKey: CoreMetrics.Counter]>([:])

    /// Requests served by a tier above the one they were resolved to, and why.
    public func spills(from: String, to: String, reason: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "lucair_spills_total", dimensions: [("from", from), ("to", to), ("reason", reason)], factory: factory)
    }

    public func upstreamErrors(deployment: String, code: String) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "lucair_upstream_errors_total", dimensions: [("deployment", deployment), ("code", code)], factory: factory)
    }

    public func duration(_ name: String, tier: String) -> Metrics.Timer {
        Metrics.Timer(label: name, dimensions: [("tier", tier)], factory: factory)
    }

    /// A gauge set at scrape time (engine and deployment state is read, not counted).
    public func gauge(_ name: String, _ labels: [(String, String)], _ value: Int) {
        registry.makeGauge(name: name, labels: labels).set(Int64(value))
    }

    public func render() -> [UInt8] { registry.emitToBuffer() }
}
