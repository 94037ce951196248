import Foundation
import Histogram
import Logging
import LucairCore
import LucairGateway
import LucairStorage
import LucairWire
import NIOCore
import NIOPosix
import Synchronization

/// Micro-benchmarks of request-path pieces, timed one operation at a time (p50 / p99 / max over N
/// runs, in nanoseconds). Usage: lucair-microbench [ITERATIONS]; with LUCAIR_BENCH_POSTGRES_URL set,
/// also the shared PostgreSQL rate windows.
struct Bench {
    let n: Int
    let ring: KeyRing
    let secrets: [String]

    func measure(_ name: String, runs: Int? = nil, _ op: (Int) async -> Void) async {
        let n = runs ?? self.n
        for i in 0..<min(n, 10_000) { await op(i) }  // warm-up
        var h = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
        let clock = ContinuousClock()
        for i in 0..<n {
            let t0 = clock.now
            await op(i)
            let d = clock.now - t0
            h.record(UInt64(d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000))
        }
        print("| \(name) | \(n) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.max) |")
    }

    /// 10,000 keys across 1,000 tenants, as a busy gateway would hold, every limit switched on.
    static func make(n: Int) -> Bench {
        var keys: [APIKeyRecord] = []
        var tenants: [TenantRecord] = []
        var secrets: [String] = []
        let high = Limits(rpm: 1_000_000_000, tpm: 1_000_000_000_000, maxConcurrent: 1_000_000)
        for t in 0..<1_000 {
            tenants.append(TenantRecord(id: "ten_\(t)", name: "t\(t)", kind: "external", plan: "pro", limits: high, createdAtMillis: 0))
            for k in 0..<10 {
                let key = APIKeys.generate()
                secrets.append(key)
                keys.append(APIKeyRecord(id: "key_\(t)_\(k)", tenantId: "ten_\(t)", hash: APIKeys.hash(key), prefix: "", role: "tenant",
                                         name: "", limits: high, createdAtMillis: 0))
            }
        }
        let ring = KeyRing()
        ring.load(keys: keys, tenants: tenants, plans: Plan.defaults)
        return Bench(n: n, ring: ring, secrets: secrets)
    }

    func run() async throws {
        print("| operation | runs | p50 (ns) | p99 (ns) | max (ns) |")
        print("|---|---|---|---|---|")
        await measure("authenticate (SHA-256 + in-memory lookup, 10k keys)") { i in
            _ = ring.principal(forKey: secrets[i % secrets.count])
        }
        // A whole answer from an OpenAI-compatible engine (the fake's, as llama.cpp shapes it):
        // parsed, normalised to OpenAI's schema, serialised again.
        let answer = Array(#"{"choices":[{"finish_reason":"stop","index":0,"message":{"content":"Hello from the fake OpenAI-compatible upstream. Hello from the fake OpenAI-compatible upstream. Hello from the fake","role":"assistant"}}],"created":1796170921,"id":"chatcmpl-fake891547","model":"ministral-8b","object":"chat.completion","usage":{"completion_tokens":16,"prompt_tokens":8,"prompt_tokens_details":{"cached_tokens":0},"total_tokens":24}}"#.utf8)
        let envelope = ChunkEnvelope(id: "chatcmpl-bench", model: "ministral-8b", created: 1_796_170_921)
        await measure("relay a whole answer: parse + normalise (OpenAIRelay.completion) + serialise") { _ in
            let (out, _) = OpenAIRelay.completion(try! JSON.parse(bytes: answer), envelope: envelope)
            _ = out.serialized(sortingKeys: false)
        }
        let limiter = RateLimiter()
        let principal = ring.principal(forKey: secrets[0])!
        await measure("limit check: admit + settle (RPM, TPM, concurrency; key and tenant)") { _ in
            let a = try! await limiter.admit(principal, estimatedTokens: 1200)
            limiter.settle(a, actualTokens: 900, cost: 1000)
        }
        await measure("authenticate + admit + settle") { i in
            let p = ring.principal(forKey: secrets[i % secrets.count])!
            let a = try! await limiter.admit(p, estimatedTokens: 1200)
            limiter.settle(a, actualTokens: 900, cost: 1000)
        }
        // Metering: the worst-case hold on a prepaid wallet before forwarding, then the end of the
        // request (price, usage record handed to the writer, wallet settle, limit settle, metrics).
        // The writer runs meanwhile, storing records and ledger entries on SQLite off this path.
        let storage = try await StorageFactory.open(url: "sqlite://" + NSTemporaryDirectory() + "lucair-meter-bench-\(UUID().uuidString)/db.sqlite", logger: Logger(label: "bench"))
        try await storage.migrate()
        let writer = UsageWriter(storage: storage, logger: Logger(label: "bench"))
        let writing = Task { try await writer.run() }
        let wallets = Wallets(maxHolds: 1_000_000, logger: Logger(label: "bench"))
        var payer = principal
        payer.prepaid = true
        wallets.credit(payer.tenantId, 1_000_000_000_000_000)
        let prices = PriceBook(tables: [PriceTable(version: "bench", effective: "2026-01-01", models: ["ministral-8b": ModelPrice(input: 200, cachedInput: 20, cacheWrite: 250, output: 1000)])])
        let meter = Meter(prices: prices, usage: writer, limiter: limiter, wallets: wallets, metrics: GatewayMetrics(), logger: Logger(label: "bench"))
        await measure("metering: wallet hold + finish (price, usage record, wallet and limit settle, metrics)") { i in
            var r = Meter.Request(endpoint: "chat.completions", requestId: "req_bench_\(i)_\(UUID().uuidString.prefix(6))", principal: payer, tier: .baseline,
                                  model: "ministral-8b", stream: false, started: .now, createdAtMillis: 1_795_000_000_000, admission: .none)
            try! meter.hold(&r, inputTokensMax: 800, outputTokensMax: 256)
            meter.finish(r, deployment: "local", usage: TokenUsage(input: 200, output: 120), status: 200, errorType: nil, ttft: nil)
        }
        await writer.flush()
        writing.cancel()
        // The spill decision: order a tier's deployments, take a local slot (free, or full and
        // spilled at once with a zero wait bound), give it back.
        let locals = (1...2).map { Deployment(name: "local-\($0)", kind: .openAICompatible, tier: .baseline, url: "http://127.0.0.1:1/v1", model: "m", capacity: 64) }
        let health = DeploymentHealth(deployments: locals, settings: .init(slotWait: .zero))
        await measure("spill decision: order 2 deployments + take a free slot + release") { _ in
            let d = health.order(locals)[0]
            let lease = await health.acquire(d)!
            health.release(lease, .success(latency: .milliseconds(5)))
        }
        let full = Deployment(name: "full", kind: .openAICompatible, tier: .baseline, url: "http://127.0.0.1:1/v1", model: "m", capacity: 1)
        let saturated = DeploymentHealth(deployments: [full], settings: .init(slotWait: .zero))
        let taken = await saturated.acquire(full)!
        await measure("spill decision: every slot taken → spill (wait bound 0)") { _ in
            let spilled = await saturated.acquire(full)
            precondition(spilled == nil)
        }
        saturated.release(taken, .neutral)
        if let url = ProcessInfo.processInfo.environment["LUCAIR_BENCH_POSTGRES_URL"], !url.isEmpty {
            let store = try await StorageFactory.open(url: url, logger: Logger(label: "bench"))
            try await store.migrate()
            let shared = RateLimiter(shared: store as? any SharedLimits)
            // The database call alone (no deadline, no settle): what the limiter adds on top of it.
            let sharedStore = store as! any SharedLimits
            let minute = Int64(Date().timeIntervalSince1970) / 60
            await measure("shared PostgreSQL: one lucair_grant call alone, RPM + TPM, key and tenant (loopback)", runs: 20_000) { i in
                let limits = Limits(rpm: 1_000_000_000, tpm: 1_000_000_000_000)
                var key = SharedGrantRequest.Scope(scope: "key:bench-\(i % 100)", limits: limits), tenant = SharedGrantRequest.Scope(scope: "tenant:bench", limits: limits)
                (key.needRequests, key.wantRequests, key.needTokens, key.wantTokens) = (1, 1, 1200, 1200)
                (tenant.needRequests, tenant.wantRequests, tenant.needTokens, tenant.wantTokens) = (1, 1, 1200, 1200)
                let r = SharedGrantRequest(scopes: [key, tenant], window: minute, day: "d", month: "m", lease: "", nowMillis: 0, leaseMillis: 60_000)
                _ = try! await sharedStore.grant(r)
            }
            // Limits of 64 and more are served from this replica's blocks (the warm-up takes each
            // key's and tenant's first block); a round trip only when a block runs short.
            await measure("authenticate + admit + settle, shared PostgreSQL, from blocks: RPM + TPM (loopback)", runs: 20_000) { i in
                var p = ring.principal(forKey: secrets[i % secrets.count])!
                p.keyLimits.maxConcurrent = nil
                p.tenantLimits.maxConcurrent = nil
                let a = try! await shared.admit(p, estimatedTokens: 1200)
                shared.settle(a, actualTokens: 900, cost: 1000)  // the estimate is never exact: tokens always settle
            }
            await measure("authenticate + admit + settle, shared PostgreSQL, from blocks: RPM + TPM + concurrency (loopback)", runs: 20_000) { i in
                let p = ring.principal(forKey: secrets[i % secrets.count])!
                let a = try! await shared.admit(p, estimatedTokens: 1200)
                shared.settle(a, actualTokens: 900, cost: 1000)
            }
            // Limits under 64 get no blocks: every request asks the store (key and tenant scopes;
            // the 30,000 requests stay under each key's and tenant's 63 per minute).
            let small = Limits(rpm: 63, tpm: 63 * 1200, maxConcurrent: 63), run = UUID().uuidString.prefix(8)
            await measure("authenticate + admit + settle, shared PostgreSQL, limits under 64: a round trip each (RPM + TPM + concurrency)", runs: 20_000) { i in
                var p = ring.principal(forKey: secrets[i % secrets.count])!
                p.keyLimits = small
                p.tenantLimits = small
                p.lineageId = "small-\(run)-" + p.lineageId  // scopes of their own: the rows above took big blocks
                p.tenantId = "small-\(run)-" + p.tenantId
                let a = try! await shared.admit(p, estimatedTokens: 1200)
                shared.settle(a, actualTokens: 900, cost: 1000)
            }
            print("round trips to the shared store on the request path: \(shared.sharedRoundTrips.load(ordering: .relaxed))")
            await shared.flushSettles()
            try await store.close()
        }
    }
}

if CommandLine.arguments.dropFirst().first == "ledger" {
    let entries = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 200_000
    try await Task.detached { try await LedgerBench.run(entries: entries) }.value
    exit(0)
}
// The request-path rows run as `lucair serve` does: Swift concurrency on NIO's event-loop threads,
// so an await on a database answer resumes without hopping to the cooperative pool. (The ledger
// benchmark above keeps the default pool: its chains are recomputed in parallel tasks.)
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let n = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200_000
// Off the main actor: top-level code runs on it, and every `await` there would hop threads.
try await Task.detached { try await Bench.make(n: n).run() }.value
