import Foundation
import Logging
import LucairCore
import LucairWire

/// The end of every served request, whatever the endpoint: price it at the table in force,
/// hand the usage record to the writer, settle the rate-limit admission and count the metrics.
public struct Meter: Sendable {
    let prices: PriceBook
    let usage: UsageWriter
    let limiter: RateLimiter
    let wallets: Wallets
    let metrics: GatewayMetrics
    let health: DeploymentHealth
    let logger: Logger

    public init(prices: PriceBook, usage: UsageWriter, limiter: RateLimiter, wallets: Wallets, metrics: GatewayMetrics,
                health: DeploymentHealth = DeploymentHealth(deployments: []), logger: Logger) {
        self.prices = prices
        self.usage = usage
        self.limiter = limiter
        self.wallets = wallets
        self.metrics = metrics
        self.health = health
        self.logger = logger
    }

    public struct Request: Sendable {
        var endpoint: String
        var requestId: String
        var principal: Principal
        var tier: Tier
        var model: String
        var stream: Bool
        var started: ContinuousClock.Instant
        var createdAtMillis: Int64
        var admission: RateLimiter.Admission
        /// A prepaid tenant's hold on its wallet (nil for tenants that only meter).
        var hold: Wallets.Hold? = nil
        /// The tier the request was resolved to, when a higher one served it.
        var spilledFrom: Tier?
        /// The token bounds the hold was computed from (a spill to a dearer tier holds again).
        var holdBounds: (input: Int, output: Int) = (0, 0)

        public init(endpoint: String, requestId: String, principal: Principal, tier: Tier, model: String, stream: Bool,
                    started: ContinuousClock.Instant, createdAtMillis: Int64, admission: RateLimiter.Admission) {
            self.endpoint = endpoint
            self.requestId = requestId
            self.principal = principal
            self.tier = tier
            self.model = model
            self.stream = stream
            self.started = started
            self.createdAtMillis = createdAtMillis
            self.admission = admission
        }
    }

    /// For a prepaid tenant, holds the request's worst-case cost on its wallet: every input token at
    /// the dearest input price, every allowed output token at the output price. Refused requests
    /// give their rate-limit admission back.
    public func hold(_ r: inout Request, inputTokensMax: Int, outputTokensMax: Int) throws {
        guard r.principal.prepaid else { return }
        r.holdBounds = (inputTokensMax, outputTokensMax)
        do {
            r.hold = try wallets.reserve(r.principal.tenantId, worstCase(r, model: r.model))
        } catch {
            limiter.settle(r.admission, actualTokens: 0, cost: 0)
            throw error
        }
    }

    @discardableResult
    public func finish(_ r: Request, deployment: String, usage u: TokenUsage, status: Int, errorType: String?, ttft: Duration?) -> Bill {
        let tier = r.tier.rawValue
        let priced = prices.price(model: r.model, onISODate: Clock.isoDate())
        let price = priced?.price ?? ModelPrice(input: 0, cachedInput: 0, cacheWrite: 0, output: 0)
        let total = ContinuousClock.now - r.started
        var record = UsageRecord(
            requestId: r.requestId, tenantId: r.principal.tenantId, keyId: r.principal.lineageId, endpoint: r.endpoint,
            tier: tier, model: r.model, deployment: deployment, stream: r.stream, status: status,
            errorType: errorType, usage: u, priceVersion: priced?.version ?? "unpriced", unitPrice: price,
            queueMicros: 0, ttftMicros: (ttft ?? total).micros, totalMicros: total.micros, createdAtMillis: r.createdAtMillis)
        record.spilledFrom = r.spilledFrom?.rawValue
        if let h = r.hold { record.walletCharge = wallets.settle(h, cost: record.costNano) }
        // Money moved: the answer waits until the record, its ledger entry and its transfer are
        // stored (ChatService awaits `usage.stored`), so a kill -9 cannot lose a paid answer.
        usage.record(record, durable: r.hold != nil && status == 200)
        limiter.settle(r.admission, actualTokens: u.promptTokens + u.outputTokens, cost: record.costNano)
        let m = metrics.served(endpoint: r.endpoint, tier: tier, model: r.model)
        if status == 200 { m.ok.increment() } else { metrics.requests(endpoint: r.endpoint, tier: tier, model: r.model, status: status).increment() }
        if u.promptTokens + u.outputTokens > 0 {
            m.input.increment(by: Int64(u.inputTokens))
            m.cachedInput.increment(by: Int64(u.cachedInputTokens))
            m.cacheWrite.increment(by: Int64(u.cacheWriteTokens))
            m.output.increment(by: Int64(u.outputTokens))
            m.cost.increment(by: record.costNano)
        }
        m.duration.recordNanoseconds(Int64(total.micros * 1000))
        return Bill(usage: u, costNano: record.costNano, priceVersion: record.priceVersion)
    }

    /// Moves a prepaid request's hold to another model's prices (a spill to another tier): the old
    /// hold is released, the new one taken, or the request keeps its old hold and this throws 402.
    public func rehold(_ r: inout Request, model: String) throws {
        guard let old = r.hold else { return }
        let worst = worstCase(r, model: model)
        guard worst > old.amount else { return }
        r.hold = try wallets.reserve(r.principal.tenantId, worst)
        _ = wallets.settle(old, cost: 0)
    }

    /// Every input token at the model's dearest input price, every allowed output token at its output price.
    func worstCase(_ r: Request, model: String) -> NanoUSD {
        let price = prices.price(model: model, onISODate: Clock.isoDate())?.price ?? ModelPrice(input: 0, cachedInput: 0, cacheWrite: 0, output: 0)
        return Int64(r.holdBounds.input) * max(price.input, price.cacheWrite, price.cachedInput) + Int64(r.holdBounds.output) * price.output
    }

    static let busyCode = "deployments_busy"

    static func busy(_ tier: Tier) -> GatewayError {
        GatewayError(status: 503, type: "server_error", code: busyCode,
                     message: "Every deployment of tier \(tier.rawValue) is busy or failing, and no tier this key may use could take the request. Retry shortly.",
                     origin: .gateway, retryable: true, retryAfterSeconds: 1)
    }

    /// Tries the tier's deployments in `DeploymentHealth` order (least loaded of two first, broken
    /// ones last). Each needs a slot (a bounded wait on a busy local engine); a failure another
    /// deployment may not share moves on to the next. Returns the lease, which the caller gives back
    /// with the outcome (a stream: when it ends).
    func firstSuccess<T>(_ deployments: [Deployment], tier: Tier, requestId: String, force: Bool = false, _ attempt: (Deployment) async throws -> T) async throws -> (T, Deployment, DeploymentHealth.Lease) {
        var last: GatewayError?
        for d in health.order(deployments) {
            guard let lease = await health.acquire(d, force: force) else {
                metrics.upstreamErrors(deployment: d.name, code: "busy").increment()
                continue
            }
            do {
                return (try await attempt(d), d, lease)
            } catch let e as GatewayError {
                let owned = e.retryable && e.origin != .client
                health.release(lease, owned ? .failure(retryAfter: e.retryAfterSeconds.map { .seconds($0) }) : .neutral)
                metrics.upstreamErrors(deployment: d.name, code: e.code ?? e.type).increment()
                logger.warning("upstream failed", metadata: ["request_id": "\(requestId)", "deployment": "\(d.name)", "status": "\(e.status)", "code": "\(e.code ?? "")", "retryable": "\(e.retryable)"])
                guard e.retryable else { throw e }
                last = e
            } catch {
                health.release(lease, .neutral)
                throw error
            }
        }
        throw last ?? Self.busy(tier)
    }
}

extension Duration {
    var micros: Int64 {
        let (s, a) = components
        return s * 1_000_000 + a / 1_000_000_000_000
    }
}
