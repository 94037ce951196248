import Foundation
import Logging
import LucairCore
import LucairRouter
import LucairUpstreams
import LucairWire
import Synchronization

/// Who served a request and why; becomes `x-lucair-*` headers and the `lucair` body field.
public struct ServedBy: Sendable {
    public var requestId: String
    public var tier: Tier
    public var model: String
    public var deployment: String
    public var reason: String
    /// Rate-limit state for the response headers.
    public var rateLimitHeaders = RateLimiter.RateLimitHeaders()
    /// For `auto`: the assessment and the decision behind `tier`.
    public var route: RouteExplain?
    /// Time spent waiting on upstreams (every attempt, up to the answer or the stream's head): what
    /// the handler subtracts from its own time to report Lucair's overhead.
    public var upstreamTime: Duration = .zero
}

/// Why an `auto` request went where it went: `x-lucair-route-*` headers and `lucair.route`.
public struct RouteExplain: Sendable {
    public var assessment: Assessment
    public var decision: RouteDecision
    public var routerVersion: String

    public var json: JSONValue { JSONWriter.value { write(into: &$0) } }

    func write(into w: inout JSONWriter) {
        decision.write(into: &w)
        w.field("reason", decision.reasons.joined(separator: ","))
        w.object("assessment") { assessment.write(into: &$0) }
        w.field("router_version", routerVersion)
    }
}

/// What a finished request cost.
public struct Bill: Sendable {
    public var usage: TokenUsage
    public var costNano: NanoUSD
    public var priceVersion: String

    /// The `lucair` extension object clients may read (OpenAI clients ignore it).
    func extensionField(_ s: ServedBy) -> JSONValue { JSONWriter.value { writeExtension(s, into: &$0) } }

    func writeExtension(_ s: ServedBy, into w: inout JSONWriter) {
        w.field("request_id", s.requestId)
        w.field("tier", s.tier.rawValue)
        w.field("model", s.model)
        w.field("deployment", s.deployment)
        w.object("route") { w in
            if let r = s.route { r.write(into: &w) } else { w.field("reason", s.reason) }
        }
        w.object("usage") { w in
            w.field("input_tokens", usage.inputTokens)
            w.field("cached_input_tokens", usage.cachedInputTokens)
            w.field("cache_write_tokens", usage.cacheWriteTokens)
            w.field("output_tokens", usage.outputTokens)
            w.field("reasoning_tokens", usage.reasoningTokens)
            w.field("estimated", usage.estimated)
        }
        w.object("cost") { w in
            w.field("nano_usd", costNano)
            w.field("usd", Money.usdString(costNano))
            w.field("price_version", priceVersion)
        }
    }

    /// A whole answer's body: the upstream's OpenAI object with the metered `usage` and the `lucair`
    /// member written in as bytes, not inserted into the tree first.
    func answerBody(_ openAI: JSONValue, _ s: ServedBy) -> [UInt8] {
        var w = JSONWriter(capacity: 2048)
        w.object { w in
            if case .object(let members) = openAI {
                for (k, v) in members where k != "usage" && k != "lucair" { w.field(k, v) }
            }
            w.object("usage") { usage.write(into: &$0) }
            w.object("lucair") { writeExtension(s, into: &$0) }
        }
        return w.bytes
    }
}

/// The request path for chat completions, free of HTTP: resolve the model, try the tier's
/// deployments in order, normalise the answer, price it and hand the usage record to the writer.
public final class ChatService: Sendable {
    let catalog: ModelCatalog
    let providers: Providers
    let meter: Meter
    public let router: AutoRouter
    /// Set once a graceful shutdown's grace period has ended with answers in flight: their
    /// connections are closed, and they are metered as cut by the shutdown, not by their clients.
    let shuttingDown = Atomic<Bool>(false)

    init(catalog: ModelCatalog, providers: Providers, meter: Meter, router: AutoRouter) {
        self.catalog = catalog
        self.providers = providers
        self.meter = meter
        self.router = router
    }

    struct Context {
        var request: ChatRequest
        var resolution: Resolution
        var route: RouteExplain?
        /// Who, when and under which admission: what the meter needs at the end.
        var metered: Meter.Request
        /// Time spent waiting on upstreams across every attempt (`serve` measures it).
        var upstreamTime: Duration = .zero
        var principal: Principal { metered.principal }
        var requestId: String { metered.requestId }
        var started: ContinuousClock.Instant { metered.started }
        var createdAt: Int { Int(metered.createdAtMillis / 1000) }
        var admission: RateLimiter.Admission { metered.admission }
    }

    /// Assess and Route for `auto`: the tier, clamped to the key's reach and the configured tiers.
    public func route(_ request: ChatRequest, principal: Principal, qualityBar: Double?) throws -> (Resolution, RouteExplain) {
        let bar = qualityBar ?? principal.scopes.qualityBar ?? principal.plan.qualityBar
        var (assessment, decision) = router.route(request, bar: bar, floor: principal.plan.floor, ceiling: principal.ceiling)
        guard let (r, moved) = catalog.serving(decision.tier, allowed: principal.allows) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "model_not_allowed", param: "model",
                               message: "No tier this key may use is configured on this gateway (plan '\(principal.plan.name)' reaches up to \(principal.ceiling.rawValue)).", origin: .client)
        }
        if moved {
            decision.tier = r.tier
            decision.reasons.append("nearest_allowed_tier")
        }
        if assessment.carriesThinking { decision.reasons.append("thinking_stripped") }
        return (r, RouteExplain(assessment: assessment, decision: decision, routerVersion: router.version))
    }

    func context(_ request: ChatRequest, principal: Principal, requestId: String, qualityBar: Double?) async throws -> Context {
        var request = request
        if request.model == "auto" {
            let (r, explain) = try self.route(request, principal: principal, qualityBar: qualityBar)
            meter.metrics.routes(tier: r.tier.rawValue, task: explain.assessment.task.rawValue,
                                 escalated: explain.decision.reasons.contains("low_confidence_up")).increment()
            if explain.assessment.carriesThinking { request = request.strippingThinkingBlocks() }
            return try await admitted(request, r, explain, principal: principal, requestId: requestId)
        }
        guard let r = catalog.resolve(request.model) else {
            let names = catalog.modelNames.map(\.id).joined(separator: ", ")
            throw GatewayError(status: 404, type: "invalid_request_error", code: "model_not_found", param: "model",
                               message: "The model '\(request.model)' does not exist on this gateway. Available: \(names).", origin: .client)
        }
        guard principal.allows(tier: r.tier, model: r.model) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "model_not_allowed", param: "model",
                               message: "This key may not use '\(request.model)' (tier \(r.tier.rawValue)). Its plan '\(principal.plan.name)' reaches up to \(principal.plan.ceiling.rawValue)\(principal.scopes.tiers.isEmpty && principal.scopes.models.isEmpty ? "" : ", narrowed by the key's scopes"). Use 'auto' or an allowed tier.", origin: .client)
        }
        return try await admitted(request, r, nil, principal: principal, requestId: requestId)
    }

    func admitted(_ request: ChatRequest, _ r: Resolution, _ route: RouteExplain?, principal: Principal, requestId: String) async throws -> Context {
        var request = request
        if principal.prepaid, request.maxTokens == nil, let d = r.deployments.first {
            // A prepaid request needs a bound on its output for its hold: the deployment's default.
            request.maxTokens = d.defaultMaxTokens
            request.body["max_tokens"] = .int(d.defaultMaxTokens)
        }
        let promptBytes = TokenEstimator.promptBytes(request)  // one walk over the messages for both uses
        let estimate = TokenEstimator.tokens(bytes: promptBytes) + (request.maxTokens ?? RateLimiter.defaultMaxOutput)
        let admission = try await meter.limiter.admit(principal, estimatedTokens: estimate)
        var metered = Meter.Request(
            endpoint: "chat.completions", requestId: requestId, principal: principal, tier: r.tier, model: r.model, stream: request.stream,
            started: .now, createdAtMillis: Int64(Date().timeIntervalSince1970) * 1000, admission: admission)
        // Thinking bills inside output tokens, on top of the answer's max_tokens (AnthropicRequest).
        let thinking = AnthropicRequest.thinkingBudget(effort: request.reasoningEffort) ?? 0
        try meter.hold(&metered, inputTokensMax: promptBytes, outputTokensMax: (request.maxTokens ?? 0) + thinking)
        return Context(request: request, resolution: r, route: route, metered: metered)
    }

    func envelope(_ c: Context) -> ChunkEnvelope {
        ChunkEnvelope(id: "chatcmpl-" + c.requestId.dropFirst(4), model: c.resolution.model, created: c.createdAt)
    }

    func servedBy(_ c: Context, _ d: Deployment) -> ServedBy {
        var reason = c.route.map { $0.decision.reasons.joined(separator: ",") } ?? c.resolution.reason
        if let from = c.metered.spilledFrom { reason += ",spilled_from_\(from.rawValue)" }
        var route = c.route
        route?.decision.tier = c.resolution.tier
        return ServedBy(requestId: c.requestId, tier: c.resolution.tier, model: c.resolution.model, deployment: d.name,
                        reason: reason, rateLimitHeaders: c.admission.limits, route: route, upstreamTime: c.upstreamTime)
    }

    /// Serves from the resolved tier; when every deployment there is busy or failing (and the
    /// client named a tier or `auto`, not a concrete model), spills up the ladder to the next tier
    /// the key may use — never above the plan's ceiling or the key's scopes, never down. When
    /// nothing took the request because breakers kept deployments aside, those are tried anyway:
    /// an upstream's own answer beats a hard fail.
    func serve<T>(_ c: inout Context, _ call: (Deployment) async throws -> T) async throws -> (T, Deployment, DeploymentHealth.Lease) {
        var upstreamTime = Duration.zero
        defer { c.upstreamTime += upstreamTime }
        let attempt = { (d: Deployment) async throws -> T in
            let t = ContinuousClock.now
            defer { upstreamTime += .now - t }
            return try await call(d)
        }
        let original = c.resolution, originalMetered = c.metered
        var last: GatewayError
        do {
            return try await meter.firstSuccess(original.deployments, tier: original.tier, requestId: c.requestId, attempt)
        } catch let e as GatewayError where e.retryable {
            last = e
        }
        if original.reason != "explicit_model" {
            for r in catalog.spillTargets(above: original.tier, allowed: c.principal.allows) {
                do { try meter.rehold(&c.metered, model: r.model) } catch { break }  // the dearer tier is not covered
                c.resolution = r
                c.resolution.reason = original.reason
                c.metered.tier = r.tier
                c.metered.model = r.model
                c.metered.spilledFrom = original.tier
                meter.metrics.spills(from: original.tier.rawValue, to: r.tier.rawValue, reason: last.code ?? last.type).increment()
                do {
                    return try await meter.firstSuccess(r.deployments, tier: r.tier, requestId: c.requestId, attempt)
                } catch let e as GatewayError where e.retryable {
                    if e.code != Meter.busyCode || last.code == Meter.busyCode { last = e }
                }
            }
        }
        guard last.code == Meter.busyCode else { throw last }
        c.resolution = original
        c.metered.tier = originalMetered.tier
        c.metered.model = originalMetered.model
        c.metered.spilledFrom = nil
        return try await meter.firstSuccess(original.deployments, tier: original.tier, requestId: c.requestId, force: true, attempt)
    }

    // MARK: non-streaming

    /// The answer's body (with the `lucair` member), who served it, and what it cost.
    public func complete(_ request: ChatRequest, principal: Principal, requestId: String, qualityBar: Double? = nil) async throws -> ([UInt8], ServedBy, Bill) {
        var c = try await context(request, principal: principal, requestId: requestId, qualityBar: qualityBar)
        let env = envelope(c)
        let outcome: ((JSONValue, TokenUsage?), Deployment, DeploymentHealth.Lease)
        let call = c.request
        do {
            outcome = try await serve(&c) { d in
                try await providers.provider(for: d).complete(UpstreamCall(request: call, deployment: d, envelope: env))
            }
        } catch {
            failed(c, error)
            throw error
        }
        let ((body, reported), d, lease) = outcome
        meter.health.release(lease, .success(latency: .now - lease.started))
        let used = reported ?? TokenUsage(
            input: TokenEstimator.promptTokens(c.request),
            output: TokenEstimator.tokens(bytes: OpenAIRelay.generatedBytes(body)), estimated: true)
        let served = servedBy(c, d)
        let bill = finish(c, deployment: d, usage: used, status: 200, errorType: nil, ttft: nil)
        if c.metered.hold != nil { await meter.usage.stored(c.requestId) }
        return (bill.answerBody(body, served), served, bill)
    }

    // MARK: streaming

    public struct OpenedStream: Sendable {
        public let servedBy: ServedBy
        let context: Context
        let deployment: Deployment
        let upstream: UpstreamStream
        let envelope: ChunkEnvelope
        /// The deployment's slot, held until the stream ends.
        let lease: DeploymentHealth.Lease
    }

    /// Opens the upstream stream. Throws (before any byte reaches the client) when no deployment answers.
    public func openStream(_ request: ChatRequest, principal: Principal, requestId: String, qualityBar: Double? = nil) async throws -> OpenedStream {
        var c = try await context(request, principal: principal, requestId: requestId, qualityBar: qualityBar)
        let env = envelope(c)
        let call = c.request
        do {
            let (s, d, lease) = try await serve(&c) { d in
                try await providers.provider(for: d).stream(UpstreamCall(request: call, deployment: d, envelope: env))
            }
            return OpenedStream(servedBy: servedBy(c, d), context: c, deployment: d, upstream: s, envelope: env, lease: lease)
        } catch {
            failed(c, error)
            throw error
        }
    }

    /// Relays the stream through `write` as SSE bytes. A mid-stream failure ends the stream with an
    /// error event; a failed `write` (client gone) stops reading, which cancels the upstream call.
    /// Either way what was delivered is metered.
    public func pump(_ s: OpenedStream, write: ([UInt8]) async throws -> Void) async {
        let c = s.context
        var reported: TokenUsage?
        var deliveredBytes = 0
        var ttft: Duration?
        var status = 200
        var errorType: String?
        var clientGone = false
        var out: [UInt8] = []
        do {
            var it = s.upstream.makeAsyncIterator()
            while let piece = try await it.next() {
                switch piece {
                case .usage(let u): reported = u
                case .chunk(let chunk):
                    if ttft == nil { ttft = ContinuousClock.now - c.started }
                    deliveredBytes += OpenAIRelay.generatedBytes(chunk)
                    chunk.writeSSE(into: &out)
                }
                // Chunks that arrived together leave together: one write, not one per chunk.
                if !out.isEmpty, !it.hasBuffered {
                    do { try await write(out) } catch {
                        clientGone = true
                        break
                    }
                    out.removeAll(keepingCapacity: true)
                }
            }
        } catch where Task.isCancelled {
            // The client left while the next chunk was awaited (ChatFastPath cancels): not the upstream's failure.
        } catch {
            let e = (error as? GatewayError) ?? GatewayError(status: 502, type: "upstream_error", code: "upstream_stream_broken", message: "The upstream stream failed.")
            status = e.status
            errorType = e.code ?? e.type
            meter.metrics.upstreamErrors(deployment: s.deployment.name, code: errorType!).increment()
            meter.logger.warning("stream failed mid-way", metadata: ["request_id": "\(c.requestId)", "deployment": "\(s.deployment.name)", "code": "\(errorType!)"])
            e.openAIBody.writeSSE(into: &out)
            try? await write(out)
        }
        clientGone = clientGone || Task.isCancelled
        if clientGone { (status, errorType) = abandoned }
        // The slot is free once the upstream call is over; a mid-stream break counts against the deployment.
        meter.health.release(s.lease, status == 200 || clientGone ? .success(latency: (ttft ?? (ContinuousClock.now - s.lease.started))) : .failure(retryAfter: nil))
        // Complete usage only when the upstream finished; otherwise count what was delivered.
        let used: TokenUsage
        if let reported, status == 200 {
            used = reported
        } else {
            used = TokenUsage(input: reported?.inputTokens ?? TokenEstimator.promptTokens(c.request),
                              cachedInput: reported?.cachedInputTokens ?? 0, cacheWrite: reported?.cacheWriteTokens ?? 0,
                              output: max(reported?.outputTokens ?? 0, TokenEstimator.tokens(bytes: deliveredBytes)), estimated: reported == nil || status != 200)
        }
        let bill = finish(c, deployment: s.deployment, usage: used, status: status, errorType: errorType, ttft: ttft)
        guard !clientGone else { return }
        if c.metered.hold != nil, status == 200 { await meter.usage.stored(c.requestId) }
        if status == 200, c.request.includeUsage {
            try? await write(SSE.data(s.envelope.usageChunk(used, extra: bill.extensionField(s.servedBy))))
        }
        try? await write(SSE.comment("lucair cost_usd=\(Money.usdString(bill.costNano)) input_tokens=\(used.promptTokens) output_tokens=\(used.outputTokens) estimated=\(used.estimated)"))
        try? await write(SSE.done)
    }

    // MARK: metering

    /// The status an answer nobody will read is metered with: the client left, or the shutdown's
    /// grace period ended (`ChatFastPath.armShutdownDeadline`).
    var abandoned: (Int, String) {
        let e = GatewayError.shuttingDown
        return shuttingDown.load(ordering: .relaxed) ? (e.status, e.code!) : (499, "client_closed_request")
    }

    /// Meters a request that got no answer. Besides `GatewayError`, only cancellation reaches here:
    /// the client left (ChatFastPath cancels its task, and the upstream call with it). As for a
    /// stream the client leaves, once an upstream was asked its prompt is billed, estimated.
    func failed(_ c: Context, _ error: any Error) {
        let d = c.resolution.deployments.first
        if let e = error as? GatewayError {
            finish(c, deployment: d, usage: TokenUsage(), status: e.status, errorType: e.code ?? e.type, ttft: nil)
        } else {
            let input = c.upstreamTime > .zero ? TokenEstimator.promptTokens(c.request) : 0
            let (status, errorType) = abandoned
            finish(c, deployment: d, usage: TokenUsage(input: input, estimated: true), status: status, errorType: errorType, ttft: nil)
        }
    }

    @discardableResult
    func finish(_ c: Context, deployment: Deployment?, usage u: TokenUsage, status: Int, errorType: String?, ttft: Duration?) -> Bill {
        meter.finish(c.metered, deployment: deployment?.name ?? "", usage: u, status: status, errorType: errorType, ttft: ttft)
    }
}

/// Today's UTC date as YYYY-MM-DD, recomputed once per day rather than formatted per request.
enum Clock {
    static let cache = Mutex<(day: Int, text: String)>((-1, ""))

    static func isoDate() -> String {
        let now = Date().timeIntervalSince1970
        let day = Int(now / 86400)
        return cache.withLock { c in
            if c.day != day {
                let f = DateFormatter()
                f.locale = Locale(identifier: "en_US_POSIX")
                f.timeZone = TimeZone(identifier: "UTC")
                f.dateFormat = "yyyy-MM-dd"
                c = (day, f.string(from: Date(timeIntervalSince1970: Double(day) * 86400)))
            }
            return c.text
        }
    }
}
