import ArgumentParser
import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import NIOHTTP1

/// Closed-loop load generator: `--concurrency` workers each send requests back to back for
/// `--seconds`, recording latency (non-streaming) or time to first content chunk and gaps between
/// chunks (streaming). Prints one JSON line of results.
///
/// With `--pair-url`, a second set of workers drives that URL at the same time and the same
/// concurrency and rate, and a second line reports it: the two targets share every moment of the
/// run, so what this machine does to both (other processes, the hypervisor) cancels out of their
/// difference. The paced added-latency figures use it (bench/overhead.sh).
@main
struct LoadGen: AsyncParsableCommand {
    @Option var url: String
    @Option var key: String?
    @Option var concurrency = 1
    @Option var seconds = 5.0
    @Option(help: "Seconds of warm-up, not recorded.") var warmup = 1.0
    @Option(help: "JSON request body.") var body = #"{"model":"auto","messages":[{"role":"user","content":"Hello there"}]}"#
    @Flag var stream = false
    @Option(help: "Label copied into the output.") var label = ""
    @Option(help: "Target requests/s across all workers (paced, for soaks); 0 sends back to back.") var rate = 0.0
    @Option(help: "A second URL driven at the same time by its own workers (same concurrency, rate and body).") var pairURL: String?
    @Option(help: "API key for --pair-url.") var pairKey: String?
    @Option(help: "JSON request body for --pair-url (default: --body).") var pairBody: String?
    @Option(help: "Label of --pair-url's line.") var pairLabel = "pair"

    func run() async throws {
        var cfg = HTTPClient.Configuration()
        cfg.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrency + 8)
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: cfg)
        // Each target: its URL, key, body and label.
        var list = [(url, key, ByteBuffer(string: body), label)]
        if let pairURL { list.append((pairURL, pairKey, ByteBuffer(string: pairBody ?? body), pairLabel)) }
        let targets = list, stream = stream, rate = rate, concurrency = concurrency
        let start = ContinuousClock.now
        let warmEnd = start + .milliseconds(Int(warmup * 1000))
        let end = warmEnd + .milliseconds(Int(seconds * 1000))

        struct Result: Sendable {
            var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var gaps = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
            var ok = 0
            var failed = 0
            var stalled = 0  // streams with a gap of a second or more between chunks
        }
        let results = try await withThrowingTaskGroup(of: (Int, Result).self) { group in
            // Worker slots alternate between the targets, so a pair's requests fall halfway
            // between the first target's.
            for slot in 0..<(concurrency * targets.count) {
                let t = slot % targets.count
                let (url, key, bodyBytes, _) = targets[t]
                group.addTask {
                    var r = Result()
                    // Paced workers start staggered and keep to a schedule, so a slow answer
                    // does not make the next requests bunch up.
                    let interval: Duration = rate > 0 ? .microseconds(Int64(Double(concurrency) / rate * 1_000_000)) : .zero
                    var next = start + interval * slot / (concurrency * targets.count)
                    while ContinuousClock.now < end {
                        if rate > 0 {
                            if next > .now { try? await Task.sleep(until: next) }
                            next += interval
                        }
                        var req = HTTPClientRequest(url: url)
                        req.method = .POST
                        req.headers.add(name: "content-type", value: "application/json")
                        if let key { req.headers.add(name: "authorization", value: "Bearer \(key)") }
                        req.body = .bytes(bodyBytes)
                        let t0 = ContinuousClock.now
                        do {
                            let resp = try await client.execute(req, timeout: .seconds(30))
                            var first: Duration?
                            var last = t0
                            var gaps: [Duration] = []
                            for try await buf in resp.body {
                                let now = ContinuousClock.now
                                if first == nil, stream ? buf.readableBytesView.contains(UInt8(ascii: "d")) : true { first = now - t0 }
                                else if stream { gaps.append(now - last) }
                                last = now
                            }
                            let total = ContinuousClock.now - t0
                            guard resp.status == .ok else { r.failed += 1; continue }
                            if t0 >= warmEnd {
                                r.latency.record(UInt64(micros(stream ? (first ?? total) : total)))
                                for g in gaps { r.gaps.record(UInt64(micros(g))) }
                                if gaps.contains(where: { $0 >= .seconds(1) }) { r.stalled += 1 }
                                r.ok += 1
                            }
                        } catch {
                            r.failed += 1
                        }
                    }
                    return (t, r)
                }
            }
            var all = [Result](repeating: Result(), count: targets.count)
            for try await (t, r) in group {
                all[t].latency.add(r.latency)
                all[t].gaps.add(r.gaps)
                all[t].ok += r.ok
                all[t].failed += r.failed
                all[t].stalled += r.stalled
            }
            return all
        }
        try await client.shutdown()
        for (t, results) in results.enumerated() {
            let out: [String: Any] = [
                "label": targets[t].3, "concurrency": concurrency, "stream": stream, "ok": results.ok, "failed": results.failed,
                "rps": Double(results.ok) / seconds,
                "p50_us": results.latency.valueAtPercentile(50), "p90_us": results.latency.valueAtPercentile(90),
                "p99_us": results.latency.valueAtPercentile(99), "max_us": results.latency.max,
                "gap_p99_us": results.gaps.valueAtPercentile(99), "gap_max_us": results.gaps.max, "stalled": results.stalled,
            ]
            let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

func micros(_ d: Duration) -> Int64 {
    let (s, a) = d.components
    return s * 1_000_000 + a / 1_000_000_000_000
}
