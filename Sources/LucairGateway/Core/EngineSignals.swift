import AsyncHTTPClient
import Foundation
import Logging
import LucairCore
import LucairWire
import NIOCore
import ServiceLifecycle

/// Polls each local engine's own signals off the request path and tells `DeploymentHealth`:
/// llama.cpp's `/metrics` (`llamacpp:requests_deferred`) and `/slots` (its slot count becomes the
/// capacity when the config sets none), vLLM's `/metrics` (`vllm:num_requests_waiting`, KV-cache
/// usage). An engine that queues takes no new requests until it stops queueing; they spill. An engine
/// that does not answer these endpoints is simply not signalled.
struct EngineSignals: Service {
    let deployments: [Deployment]
    let client: HTTPClient
    let health: DeploymentHealth
    let interval: Duration
    let logger: Logger

    func run() async throws {
        guard !deployments.isEmpty, interval > .zero else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            for d in deployments { await poll(d) }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { break }
        }
    }

    /// `scheme://host:port` of a URL, the port always written: where an engine's own endpoints
    /// live, and how a deployment is matched to the engine that serves it.
    static func origin(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return url }
        return "\(scheme)://\(host):\(c.port ?? (scheme == "https" ? 443 : 80))"
    }

    func poll(_ d: Deployment) async {
        let origin = Self.origin(d.url)
        var busy = false
        if let text = await get(origin + "/metrics") {
            let g = Self.gauges(text)
            busy = (g["llamacpp:requests_deferred"] ?? 0) > 0 || (g["vllm:num_requests_waiting"] ?? 0) > 0
                || (g["vllm:kv_cache_usage_perc"] ?? g["vllm:gpu_cache_usage_perc"] ?? 0) >= 0.98
        }
        var slots: Int?
        if d.capacity == nil, let text = await get(origin + "/slots") { slots = (try? JSON.parse(text))?.arrayValue?.count }
        health.applySignals(d.name, busy: busy, slots: slots)
    }

    func get(_ url: String) async -> String? {
        do {
            let r = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(1))
            guard r.status == .ok else { return nil }
            return String(buffer: try await r.body.collect(upTo: 4 << 20))
        } catch {
            return nil
        }
    }

    /// `name value` and `name{labels} value` lines of Prometheus text, summed per name. Written here
    /// because the listed Prometheus package writes this format but does not read it.
    static func gauges(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let v = Double(parts[1]) else { continue }
            let name = parts[0].split(separator: "{", maxSplits: 1)[0]
            out[String(name), default: 0] += v
        }
        return out
    }
}
