import Foundation
import Logging
import Histogram
import LucairCore
import LucairGateway
import LucairStorage

/// Micro-benchmarks of request-path pieces that involve no I/O, timed one operation at a time
/// (p50 / p99 / max over N runs, in nanoseconds). Usage: lucair-microbench [ITERATIONS]
let n = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 200_000

func measure(_ name: String, runs: Int = n, _ op: () async -> Void) async {
    let n = runs
    for _ in 0..<min(n, 10_000) { await op() }  // warm-up
    var h = Histogram<UInt64>(highestTrackableValue: 1_000_000_000, numberOfSignificantValueDigits: .three)
    let clock = ContinuousClock()
    for _ in 0..<n {
        let t0 = clock.now
        await op()
        let d = clock.now - t0
        h.record(UInt64(d.components.attoseconds / 1_000_000_000 + d.components.seconds * 1_000_000_000))
    }
    print("| \(name) | \(n) | \(h.valueAtPercentile(50)) | \(h.valueAtPercentile(99)) | \(h.max) |")
}

// 10,000 keys across 1,000 tenants, as a busy gateway would hold.
var keys: [APIKeyRecord] = []
var tenants: [TenantRecord] = []
var secrets: [String] = []
for t in 0..<1_000 {
    tenants.append(TenantRecord(id: "ten_\(t)", name: "t\(t)", kind: "external", plan: "pro", createdAtMillis: 0))
    for k in 0..<10 {
        let key = APIKeys.generate()
        secrets.append(key)
        keys.append(APIKeyRecord(id: "key_\(t)_\(k)", tenantId: "ten_\(t)", hash: APIKeys.hash(key), prefix: "", role: "tenant", name: "",
                                 limits: Limits(rpm: 1_000_000_000, tpm: 1_000_000_000_000, maxConcurrent: 1_000_000), createdAtMillis: 0))
    }
}
let ring = KeyRing()
ring.load(keys: keys, tenants: tenants, plans: Plan.defaults.mapValues { var p = $0; p.limits = Limits(rpm: 1_000_000_000, tpm: 1_000_000_000_000); return p })
let limiter = RateLimiter()
var i = 0

print("| operation | runs | p50 (ns) | p99 (ns) | max (ns) |")
print("|---|---|---|---|---|")
await measure("authenticate (SHA-256 + in-memory lookup, 10k keys)") {
    i &+= 1
    _ = ring.principal(forKey: secrets[i % secrets.count])
}
let principal = ring.principal(forKey: secrets[0])!
await measure("limit check: admit + settle (RPM, TPM, concurrency; key and tenant)") {
    let a = try! await limiter.admit(principal, estimatedTokens: 1200)
    limiter.settle(a, actualTokens: 900, cost: 1000)
}
await measure("authenticate + admit + settle") {
    i &+= 1
    let p = ring.principal(forKey: secrets[i % secrets.count])!
    let a = try! await limiter.admit(p, estimatedTokens: 1200)
    limiter.settle(a, actualTokens: 900, cost: 1000)
}

// The same against the shared PostgreSQL rate windows, when a URL is given.
if let url = ProcessInfo.processInfo.environment["LUCAIR_BENCH_POSTGRES_URL"] {
    let store = try await StorageFactory.open(url: url, logger: Logger(label: "bench"))
    try await store.migrate()
    let shared = RateLimiter(shared: store as? any SharedRateWindows)
    await measure("authenticate + admit + settle, shared PostgreSQL windows (loopback)", runs: 20_000) {
        i &+= 1
        let p = ring.principal(forKey: secrets[i % secrets.count])!
        let a = try! await shared.admit(p, estimatedTokens: 1200)
        shared.settle(a, actualTokens: 1200, cost: 1000)
    }
    try await store.close()
}
