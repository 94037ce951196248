import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import LucairBilling
import LucairCore
import LucairRouter
import LucairStorage
import LucairUpstreams
import LucairWire
import NIOCore
import ServiceLifecycle
import Synchronization

/// Everything one Lucair process holds, built from a config. HTTP lives in `Routes`; the request
/// path lives in `ChatService`; this type wires them and owns the lifecycles.
public final class Gateway: Sendable {
    public let config: LucairConfig
    public let storage: any Storage
    public let keys: KeyRing
    public let usage: UsageWriter
    /// Chat answers `ChatFastPath` runs outside Hummingbird's tasks; the usage writer's last drain waits for them.
    let answersInFlight = AnswersInFlight()
    public let metrics: GatewayMetrics
    public let chat: ChatService
    let embeddings: EmbeddingsService
    public let catalog: ModelCatalog
    public let engines: [EngineSupervisor]
    public let refresher: KeyRefresher
    public let tenancy: Tenancy
    public let limiter: RateLimiter
    public let ledger: LedgerService
    public let wallets: Wallets
    /// In-flight counts, latency, breakers and local slots per deployment.
    public let health: DeploymentHealth
    /// Card payments through Stripe; nil when no Stripe key is configured.
    public let billing: Billing?
    let httpClient: HTTPClient
    let providers: Providers
    let logger: Logger
    public static let defaultTenant = "default"

    public init(config: LucairConfig, logger: Logger) async throws {
        self.config = config
        self.logger = logger
        var httpConfig = HTTPClient.Configuration()
        httpConfig.timeout = .init(connect: .seconds(2), read: .seconds(120))
        // The default (8 connections per host) would queue requests to a busy engine inside Lucair.
        httpConfig.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
        httpConfig.httpVersion = .http1Only
        let httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfig)
        self.httpClient = httpClient
        storage = try await StorageFactory.open(url: config.storageURL, logger: logger)
        try await storage.migrate()
        let keys = KeyRing()
        self.keys = keys
        refresher = KeyRefresher(storage: storage, ring: keys, plans: config.plans, intervalMs: config.keyRefreshMs, logger: logger)
        tenancy = Tenancy(storage: storage, plans: config.plans, refresher: refresher)
        metrics = GatewayMetrics()
        usage = UsageWriter(storage: storage, logger: logger, metrics: metrics) { [answersInFlight] in await answersInFlight.allEnded(within: .seconds(5)) }
        ledger = LedgerService(storage: storage, signingKeyHex: config.ledgerSigningKey, intervalSeconds: config.checkpointIntervalSeconds, logger: logger)
        catalog = ModelCatalog(deployments: config.deployments)
        providers = Providers(client: httpClient, deployments: config.deployments + config.embeddings, configuration: httpConfig)
        limiter = RateLimiter(shared: storage as? any SharedLimits, logger: logger)
        wallets = Wallets(logger: logger)
        wallets.load(balances: try await storage.walletBalances())
        if let key = config.stripeSecretKey, let webhookSecret = config.stripeWebhookSecret {
            let wallets = self.wallets
            let b = Billing(stripe: StripeClient(base: config.stripeAPIBase, secretKey: key, http: httpClient), webhookSecret: webhookSecret,
                            storage: storage, logger: logger, credit: { wallets.credit($0, $1) }, balance: { wallets.balance($0).balance })
            try await b.load()
            wallets.onDebit { b.walletDebited($0) }
            billing = b
        } else {
            billing = nil
        }
        health = DeploymentHealth(deployments: config.deployments + config.embeddings, settings: .init(
            failuresToOpen: config.breakerFailures, coolDown: .milliseconds(config.breakerCoolDownMs), slotWait: .milliseconds(config.spillWaitMs)))
        let meter = Meter(prices: config.prices, usage: usage, limiter: limiter, wallets: wallets, metrics: metrics, health: health, logger: logger)
        let router = AutoRouter(model: try RouterArtifact.load(path: config.routerModelPath), lowConfidence: config.routerLowConfidence)
        chat = ChatService(catalog: catalog, providers: providers, meter: meter, router: router)
        embeddings = EmbeddingsService(deployments: config.embeddings, provider: providers.openAI, meter: meter)
        let dataDir = Gateway.dataDir(config)
        engines = config.engines.map { e in
            EngineSupervisor(config: e, client: httpClient, logger: logger, logPath: dataDir.map { "\($0)/engine-\(e.name).log" })
        }
        try await bootstrapKeys()
    }

    static func dataDir(_ c: LucairConfig) -> String? {
        guard c.storageURL.hasPrefix("sqlite://") else { return nil }
        let dir = (String(c.storageURL.dropFirst(9)) as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// The default tenant and the operator key from config; then every active key into memory.
    func bootstrapKeys() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if try await storage.tenant(id: "ten_default") == nil {
            try await storage.upsertTenant(TenantRecord(id: "ten_default", name: Self.defaultTenant, kind: "internal", plan: "enterprise", createdAtMillis: now))
        }
        if let admin = config.adminKey {
            let id = "key_admin_" + APIKeys.hash(admin).prefix(12)
            if try await storage.key(id: id) == nil {
                try await storage.insertKey(APIKeyRecord(
                    id: id, tenantId: "ten_default", hash: APIKeys.hash(admin), prefix: APIKeys.displayPrefix(admin),
                    role: "operator", name: "bootstrap admin key", createdAtMillis: now))
            }
        }
        try await refresher.reload()
        try await seedSpend()
    }

    /// Spend already recorded today and this month, so restarting never resets a budget.
    func seedSpend() async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let dayStart = now / 86_400_000 * 86_400_000
        var comps = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date())
        comps.day = 1; comps.hour = 0; comps.minute = 0; comps.second = 0; comps.nanosecond = 0
        let monthStart = Int64((Calendar(identifier: .gregorian).date(from: comps)?.timeIntervalSince1970 ?? 0) * 1000)
        func totals(_ rows: [(tenantId: String, keyId: String, costNano: NanoUSD)]) -> [String: NanoUSD] {
            var out: [String: NanoUSD] = [:]
            for r in rows {
                out["k:" + r.keyId, default: 0] += r.costNano
                out["t:" + r.tenantId, default: 0] += r.costNano
            }
            return out
        }
        limiter.seed(spentToday: totals(try await storage.spend(sinceMillis: dayStart)), spentThisMonth: totals(try await storage.spend(sinceMillis: monthStart)))
    }

    /// Starts managed engines and waits for them to be healthy.
    public func startEngines() async throws {
        for e in engines { try await e.start() }
    }

    /// The deployments an engine serves: those whose URL has the engine's health URL's scheme, host
    /// and port.
    public func deployments(ofEngine name: String) -> [String]? {
        guard let e = engines.first(where: { $0.config.name == name }) else { return nil }
        let o = EngineSignals.origin(e.config.healthURL)
        return (config.deployments + config.embeddings).filter { EngineSignals.origin($0.url) == o }.map(\.name)
    }

    /// An engine's state for /health and the admin API.
    public func engineJSON(_ e: EngineSupervisor) -> JSONValue {
        let s = e.snapshot
        let names = deployments(ofEngine: e.config.name) ?? []
        let ds = health.snapshot().filter { names.contains($0.name) }
        return ["name": .string(e.config.name), "state": .string(s.state.rawValue), "restarts": .int(s.restarts), "pid": .int(s.pid),
                "deployments": .array(names.map { .string($0) }), "draining": .bool(!ds.isEmpty && ds.allSatisfy(\.draining)),
                "in_flight": .int(ds.reduce(0) { $0 + $1.outstanding })]
    }

    /// Engines and deployments as gauges, read when /metrics is scraped.
    func recordStateGauges() {
        for e in engines {
            let s = e.snapshot
            metrics.gauge("lucair_engine_up", [("engine", e.config.name)], s.state == .ready ? 1 : 0)
            metrics.gauge("lucair_engine_restarts", [("engine", e.config.name)], s.restarts)
        }
        for d in health.snapshot() {
            metrics.gauge("lucair_deployment_in_flight", [("deployment", d.name)], d.outstanding)
            metrics.gauge("lucair_deployment_breaker_open", [("deployment", d.name)], d.state == "closed" ? 0 : 1)
            metrics.gauge("lucair_deployment_draining", [("deployment", d.name)], d.draining ? 1 : 0)
            metrics.gauge("lucair_deployment_engine_busy", [("deployment", d.name)], d.engineBusy ? 1 : 0)
        }
        metrics.gauge("lucair_usage_pending", [], usage.pending)
        if limiter.shared != nil {
            // Requests that waited on the shared limits store (the rest were served from blocks),
            // and requests counted by this replica alone because the store did not answer.
            metrics.gauge("lucair_limit_store_round_trips", [], limiter.sharedRoundTrips.load(ordering: .relaxed))
            metrics.gauge("lucair_limit_local_fallbacks", [], limiter.localFallbacks.load(ordering: .relaxed))
        }
    }

    public func modelList() -> JSONValue {
        let created = 1_767_225_600  // 2026-01-01: a fixed date; Lucair's names are not models with a birth date
        return ["object": "list", "data": .array(catalog.modelNames.map {
            ["id": .string($0.id), "object": "model", "created": .int(created), "owned_by": .string($0.ownedBy)]
        })]
    }

    public func health() async -> JSONValue {
        var engineStates: [JSONValue] = []
        var degraded = false
        for e in engines {
            if e.snapshot.state != .ready { degraded = true }
            engineStates.append(engineJSON(e))
        }
        let migrations = (try? await storage.appliedMigrations()) ?? []
        if migrations.isEmpty { degraded = true }
        let keyRefreshError = refresher.lastError
        if keyRefreshError != nil || limiter.degraded { degraded = true }
        return [
            "status": degraded ? "degraded" : "ok",
            "storage": ["kind": .string(config.storageURL.hasPrefix("sqlite") ? "sqlite" : "postgres"), "migrations": .array(migrations.map { .int($0) })],
            "engines": .array(engineStates),
            "deployments": .array(health.snapshot().map { d in
                ["name": .string(d.name), "breaker": .string(d.state), "draining": .bool(d.draining), "engine_busy": .bool(d.engineBusy), "in_flight": .int(d.outstanding),
                 "capacity": d.capacity.map { .int($0) } ?? nil, "latency_ewma_ms": .double((d.ewmaMillis * 10).rounded() / 10)]
            }),
            "usage_writer": ["pending": .int(usage.pending)],
            "keys": ["refresh_error": keyRefreshError.map { .string($0) } ?? nil],
            "limits": ["shared": .bool(limiter.shared != nil), "shared_unreachable": .bool(limiter.degraded)],
            "tiers": .array(config.tiersServed.map { .string($0.rawValue) }),
        ]
    }

    func shutdown() async {
        for e in engines { e.stop() }
        await limiter.flushSettles()
        await providers.shutdown()
        try? await httpClient.shutdown()
        try? await storage.close()
    }
}

/// Runs the engine supervisors and closes shared resources on shutdown.
struct GatewayLifecycle: Service {
    let gateway: Gateway

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for e in gateway.engines { group.addTask { await e.supervise() } }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await gateway.shutdown()
    }
}

public enum LucairApp {
    /// The `Server` header on every answer (Hummingbird's and `ChatFastPath`'s).
    static let serverName = "lucair"

    /// The application for a gateway. Tests pass port 0 and read the bound port from `onRunning`.
    public static func build(gateway: Gateway, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let router = Router(context: LucairContext.self, options: .autoGenerateHeadEndpoints)  // HEAD /health for monitors
        router.middlewares.add(OpenAIErrorMiddleware())
        let routes = Routes(gateway: gateway)
        routes.register(on: router)
        var logger = gateway.logger
        logger[metadataKey: "component"] = "http"
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in LucairHTTP1Channel(responder: responder, routes: routes) },
            // A deep accept queue: a burst of new connections (a client opening hundreds at once) must
            // not overflow it into SYN retries that arrive seconds later.
            configuration: .init(address: .hostname(gateway.config.host, port: gateway.config.port), serverName: serverName, backlog: 4096),
            // Shutdown runs in reverse: the HTTP server stops first, then the usage writer (its last
            // drain), the key refresher, the ledger (its last checkpoint), and only then
            // GatewayLifecycle closes storage.
            services: [GatewayLifecycle(gateway: gateway), gateway.ledger, gateway.refresher, gateway.usage,
                       EngineSignals(deployments: gateway.config.deployments.filter { $0.local && $0.kind == .openAICompatible },
                                     client: gateway.httpClient, health: gateway.health,
                                     interval: .milliseconds(gateway.config.signalsPollMs), logger: gateway.logger),
                       MemoryTrimmer()],
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
