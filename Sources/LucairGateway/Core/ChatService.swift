import Foundation
import Logging
import LucairCore
import LucairRouter
import LucairUpstreams
import LucairWire

/// Who served a request and why; becomes `x-lucair-*` headers and the `lucair` body field.
public struct ServedBy: Sendable {
    public var requestId: String
    public var tier: Tier
    public var model: String
    public var deployment: String
    public var reason: String
    /// Rate-limit state for the response headers.
    public var rateLimitHeaders: [(String, String)] = []
}

/// What a finished request cost.
public struct Bill: Sendable {
    public var usage: TokenUsage
    public var costNano: NanoUSD
    public var priceVersion: String

    /// The `lucair` extension object clients may read (OpenAI clients ignore it).
    func extensionField(_ s: ServedBy) -> JSONValue {
        [
            "request_id": .string(s.requestId), "tier": .string(s.tier.rawValue), "model": .string(s.model),
            "deployment": .string(s.deployment), "route": ["reason": .string(s.reason)],
            "usage": [
                "input_tokens": .int(usage.inputTokens), "cached_input_tokens": .int(usage.cachedInputTokens),
                "cache_write_tokens": .int(usage.cacheWriteTokens), "output_tokens": .int(usage.outputTokens),
                "reasoning_tokens": .int(usage.reasoningTokens), "estimated": .bool(usage.estimated),
            ],
            "cost": ["nano_usd": .int(costNano), "usd": .string(Money.usdString(costNano)), "price_version": .string(priceVersion)],
        ]
    }
}

/// The request path for chat completions, free of HTTP: resolve the model, try the tier's
/// deployments in order, normalise the answer, price it and hand the usage record to the writer.
public final class ChatService: Sendable {
    let catalog: ModelCatalog
    let prices: PriceBook
    let providers: Providers
    let usage: UsageWriter
    let metrics: GatewayMetrics
    let limiter: RateLimiter
    let logger: Logger

    init(catalog: ModelCatalog, prices: PriceBook, providers: Providers, usage: UsageWriter, metrics: GatewayMetrics, limiter: RateLimiter, logger: Logger) {
        self.limiter = limiter
        self.catalog = catalog
        self.prices = prices
        self.providers = providers
        self.usage = usage
        self.metrics = metrics
        self.logger = logger
    }

    struct Context {
        var request: ChatRequest
        var principal: Principal
        var requestId: String
        var resolution: Resolution
        var started: ContinuousClock.Instant
        var createdAt: Int
        var admission: RateLimiter.Admission
    }

    func context(_ request: ChatRequest, principal: Principal, requestId: String) async throws -> Context {
        guard let r = catalog.resolve(request.model) else {
            let names = catalog.modelNames.map(\.id).joined(separator: ", ")
            throw GatewayError(status: 404, type: "invalid_request_error", code: "model_not_found", param: "model",
                               message: "The model '\(request.model)' does not exist on this gateway. Available: \(names).", origin: .client)
        }
        guard principal.allows(tier: r.tier, model: r.model) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "model_not_allowed", param: "model",
                               message: "This key may not use '\(request.model)' (tier \(r.tier.rawValue)). Its plan '\(principal.plan.name)' reaches up to \(principal.plan.ceiling.rawValue)\(principal.scopes.tiers.isEmpty && principal.scopes.models.isEmpty ? "" : ", narrowed by the key's scopes"). Use 'auto' or an allowed tier.", origin: .client)
        }
        let estimate = TokenEstimator.promptTokens(request) + (request.maxTokens ?? RateLimiter.defaultMaxOutput)
        let admission = try await limiter.admit(principal, estimatedTokens: estimate)
        return Context(request: request, principal: principal, requestId: requestId, resolution: r,
                       started: .now, createdAt: Int(Date().timeIntervalSince1970), admission: admission)
    }

    func envelope(_ c: Context) -> ChunkEnvelope {
        ChunkEnvelope(id: "chatcmpl-" + c.requestId.dropFirst(4), model: c.resolution.model, created: c.createdAt)
    }

    func servedBy(_ c: Context, _ d: Deployment) -> ServedBy {
        ServedBy(requestId: c.requestId, tier: c.resolution.tier, model: c.resolution.model, deployment: d.name, reason: c.resolution.reason,
                 rateLimitHeaders: c.admission.headers)
    }

    /// Tries each deployment of the tier in turn while the failure is one another may not share.
    func firstSuccess<T>(_ c: Context, _ attempt: (Deployment) async throws -> T) async throws -> (T, Deployment) {
        var last: GatewayError?
        for d in c.resolution.deployments {
            do {
                return (try await attempt(d), d)
            } catch let e as GatewayError {
                metrics.upstreamErrors(deployment: d.name, code: e.code ?? e.type).increment()
                logger.warning("upstream failed", metadata: ["request_id": "\(c.requestId)", "deployment": "\(d.name)", "status": "\(e.status)", "code": "\(e.code ?? "")", "retryable": "\(e.retryable)"])
                guard e.retryable else { throw e }
                last = e
            }
        }
        throw last ?? GatewayError(status: 503, type: "upstream_error", code: "no_deployment", message: "No deployment can serve this tier.")
    }

    // MARK: non-streaming

    public func complete(_ request: ChatRequest, principal: Principal, requestId: String) async throws -> (JSONValue, ServedBy, Bill) {
        let c = try await context(request, principal: principal, requestId: requestId)
        let env = envelope(c)
        let outcome: ((JSONValue, TokenUsage?), Deployment)
        do {
            outcome = try await firstSuccess(c) { d in
                try await providers.provider(for: d).complete(UpstreamCall(request: request, deployment: d, envelope: env))
            }
        } catch let e as GatewayError {
            finish(c, deployment: c.resolution.deployments.first, usage: TokenUsage(), status: e.status, errorType: e.code ?? e.type, ttft: nil)
            throw e
        }
        let ((body, reported), d) = outcome
        let used = reported ?? TokenUsage(
            input: TokenEstimator.promptTokens(request),
            output: TokenEstimator.tokens(bytes: OpenAIRelay.generatedBytes(body)), estimated: true)
        let served = servedBy(c, d)
        let bill = finish(c, deployment: d, usage: used, status: 200, errorType: nil, ttft: nil)
        var out = body
        out["usage"] = used.openAI
        out["lucair"] = bill.extensionField(served)
        return (out, served, bill)
    }

    // MARK: streaming

    public struct OpenedStream: Sendable {
        public let servedBy: ServedBy
        let context: Context
        let deployment: Deployment
        let upstream: UpstreamStream
        let envelope: ChunkEnvelope
    }

    /// Opens the upstream stream. Throws (before any byte reaches the client) when no deployment answers.
    public func openStream(_ request: ChatRequest, principal: Principal, requestId: String) async throws -> OpenedStream {
        let c = try await context(request, principal: principal, requestId: requestId)
        let env = envelope(c)
        do {
            let (s, d) = try await firstSuccess(c) { d in
                try await providers.provider(for: d).stream(UpstreamCall(request: request, deployment: d, envelope: env))
            }
            return OpenedStream(servedBy: servedBy(c, d), context: c, deployment: d, upstream: s, envelope: env)
        } catch let e as GatewayError {
            finish(c, deployment: c.resolution.deployments.first, usage: TokenUsage(), status: e.status, errorType: e.code ?? e.type, ttft: nil)
            throw e
        }
    }

    /// Relays the stream through `write` as SSE bytes. A mid-stream failure ends the stream with an
    /// error event; a failed `write` (client gone) stops reading, which cancels the upstream call.
    /// Either way what was delivered is metered.
    public func pump(_ s: OpenedStream, write: (ByteBufferBytes) async throws -> Void) async {
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
        } catch {
            let e = (error as? GatewayError) ?? GatewayError(status: 502, type: "upstream_error", code: "upstream_stream_broken", message: "The upstream stream failed.")
            status = e.status
            errorType = e.code ?? e.type
            metrics.upstreamErrors(deployment: s.deployment.name, code: errorType!).increment()
            logger.warning("stream failed mid-way", metadata: ["request_id": "\(c.requestId)", "deployment": "\(s.deployment.name)", "code": "\(errorType!)"])
            e.openAIBody.writeSSE(into: &out)
            try? await write(out)
        }
        if clientGone {
            status = 499
            errorType = "client_closed_request"
        }
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
        if status == 200, c.request.includeUsage {
            try? await write(SSE.data(s.envelope.usageChunk(used, extra: bill.extensionField(s.servedBy))))
        }
        try? await write(SSE.comment("lucair cost_usd=\(Money.usdString(bill.costNano)) input_tokens=\(used.promptTokens) output_tokens=\(used.outputTokens) estimated=\(used.estimated)"))
        try? await write(SSE.done)
    }

    // MARK: metering

    @discardableResult
    func finish(_ c: Context, deployment: Deployment?, usage u: TokenUsage, status: Int, errorType: String?, ttft: Duration?) -> Bill {
        let tier = c.resolution.tier.rawValue
        let model = c.resolution.model
        let priced = prices.price(model: model, onISODate: Clock.isoDate())
        let price = priced?.price ?? ModelPrice(input: 0, cachedInput: 0, cacheWrite: 0, output: 0)
        let total = ContinuousClock.now - c.started
        let record = UsageRecord(
            requestId: c.requestId, tenantId: c.principal.tenantId, keyId: c.principal.lineageId, endpoint: "chat.completions",
            tier: tier, model: model, deployment: deployment?.name ?? "", stream: c.request.stream, status: status,
            errorType: errorType, usage: u, priceVersion: priced?.version ?? "unpriced", unitPrice: price,
            queueMicros: 0, ttftMicros: (ttft ?? total).micros, totalMicros: total.micros,
            createdAtMillis: Int64(c.createdAt) * 1000)
        usage.record(record)
        limiter.settle(c.admission, actualTokens: u.promptTokens + u.outputTokens, cost: record.costNano)
        metrics.requests(endpoint: "chat.completions", tier: tier, model: model, status: status).increment()
        if u.promptTokens + u.outputTokens > 0 {
            metrics.tokens(kind: "input", tier: tier, model: model).increment(by: Int64(u.inputTokens))
            metrics.tokens(kind: "cached_input", tier: tier, model: model).increment(by: Int64(u.cachedInputTokens))
            metrics.tokens(kind: "cache_write", tier: tier, model: model).increment(by: Int64(u.cacheWriteTokens))
            metrics.tokens(kind: "output", tier: tier, model: model).increment(by: Int64(u.outputTokens))
            metrics.costNano(tier: tier, model: model).increment(by: record.costNano)
        }
        metrics.duration("lucair_request_duration_seconds", tier: tier).recordNanoseconds(Int64(total.micros * 1000))
        return Bill(usage: u, costNano: record.costNano, priceVersion: record.priceVersion)
    }
}

public typealias ByteBufferBytes = [UInt8]

extension Duration {
    var micros: Int64 {
        let (s, a) = components
        return s * 1_000_000 + a / 1_000_000_000_000
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

import Synchronization
