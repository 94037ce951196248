/// Lucair's configuration: one TOML file (see config/lucair.example.toml), secrets overridable
/// from the environment. Loading it is in ConfigLoader.swift.
public struct LucairConfig: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var maxBodyBytes: Int = 8 * 1024 * 1024
    public var logLevel: String = "info"
    /// On SIGTERM, how long answers still in flight (long streams) may go on before their
    /// connections are closed and what they delivered is metered. Below the orchestrator's own
    /// limit (Kubernetes kills after 30 s), so Lucair ends them, not SIGKILL.
    public var shutdownGraceMs: Int = 25_000
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://user:pass@host:port/db`.
    public var storageURL: String = "sqlite://.lucair/lucair.sqlite"
    /// The bootstrap operator key (`LUCAIR_ADMIN_KEY` overrides). Stored hashed.
    public var adminKey: String?
    public var deployments: [Deployment] = []
    public var embeddings: [Deployment] = []
    public var prices: PriceBook = PriceBook(tables: [])
    public var engines: [EngineConfig] = []
    /// Plans by name; Starter, Pro and Enterprise unless the config redefines them.
    public var plans: [String: Plan] = Plan.defaults
    /// How often each replica checks storage for key and limit changes (revocations included).
    public var keyRefreshMs: Int = 250
    /// The router's artifact; nil = the one built in (`Resources/router/router-v1.json`).
    public var routerModelPath: String?
    /// Below this confidence an `auto` request goes one tier up.
    public var routerLowConfidence: Double = 0.5
    /// The ledger's Ed25519 signing key (32 bytes, hex; `LUCAIR_LEDGER_KEY` overrides). Without one,
    /// the ledger is still chained and verifiable, but no checkpoints are signed.
    public var ledgerSigningKey: String?
    /// How often each tenant's chain head is signed into a checkpoint.
    public var checkpointIntervalSeconds: Int = 60
    /// Where the config came from, for messages.
    /// Stripe billing: on when a secret key is set (`STRIPE_SECRET_KEY`); webhooks are verified with
    /// `STRIPE_WEBHOOK_SECRET`; `STRIPE_API_BASE` points at a stand-in in tests.
    public var stripeSecretKey: String?
    public var stripeWebhookSecret: String?
    public var stripeAPIBase: String = "https://api.stripe.com"
    /// Serving: how long a request waits for a local slot before spilling, and the breakers.
    public var spillWaitMs: Int = 50
    public var breakerFailures: Int = 5
    public var breakerCoolDownMs: Int = 10_000
    /// How often local engines' own signals are polled (0: never).
    public var signalsPollMs: Int = 1_000
    public var source: String = "(embedded default)"

    public init() {}

    public func deployments(for tier: Tier) -> [Deployment] { deployments.filter { $0.tier == tier } }
    public var tiersServed: [Tier] { Tier.allCases.filter { t in deployments.contains { $0.tier == t } } }
    /// Lucair model ids, in ladder order, each once.
    public var models: [String] {
        var seen = Set<String>()
        return Tier.allCases.flatMap { deployments(for: $0) }.map(\.model).filter { seen.insert($0).inserted }
    }
}

public struct Deployment: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case openAICompatible = "openai_compatible"
        case anthropic
    }

    public var name: String
    public var kind: Kind
    public var tier: Tier
    /// The base URL: `http://host:port/v1` for OpenAI-compatible engines, `https://api.anthropic.com` for Anthropic.
    public var url: String
    /// Lucair's model id, what clients name and prices are keyed by.
    public var model: String
    /// The name the upstream knows the model by.
    public var upstreamModel: String
    public var apiKey: String?
    /// Runs on our own machines (Baseline engines); its data stays home.
    public var local: Bool
    public var connectTimeoutMs: Int
    public var firstByteTimeoutMs: Int
    public var totalTimeoutMs: Int
    /// No byte from the upstream for this long (waiting for an answer, or between stream chunks): the call fails.
    public var idleTimeoutMs: Int
    /// Anthropic needs max_tokens; used when the client sent none.
    public var defaultMaxTokens: Int
    /// Requests this deployment serves at once (a local engine's slots); nil: no limit kept here.
    /// Every alias and tier that names the deployment shares its slots.
    public var capacity: Int?

    public init(name: String, kind: Kind, tier: Tier, url: String, model: String, upstreamModel: String? = nil,
                apiKey: String? = nil, local: Bool? = nil, connectTimeoutMs: Int = 2_000, firstByteTimeoutMs: Int = 60_000,
                totalTimeoutMs: Int = 600_000, idleTimeoutMs: Int = 120_000, defaultMaxTokens: Int = 4096, capacity: Int? = nil) {
        self.name = name
        self.kind = kind
        self.tier = tier
        self.url = url
        self.model = model
        self.upstreamModel = upstreamModel ?? model
        self.apiKey = apiKey
        self.local = local ?? (kind == .openAICompatible)
        self.connectTimeoutMs = connectTimeoutMs
        self.firstByteTimeoutMs = firstByteTimeoutMs
        self.totalTimeoutMs = totalTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        self.defaultMaxTokens = defaultMaxTokens
        self.capacity = capacity
    }
}

/// A local engine Lucair starts and watches (llama.cpp, vLLM).
public struct EngineConfig: Sendable, Equatable {
    public var name: String
    public var command: [String]
    public var healthURL: String
    public var startupTimeoutMs: Int
    public var env: [String: String]

    public init(name: String, command: [String], healthURL: String, startupTimeoutMs: Int = 120_000, env: [String: String] = [:]) {
        self.name = name
        self.command = command
        self.healthURL = healthURL
        self.startupTimeoutMs = startupTimeoutMs
        self.env = env
    }
}
