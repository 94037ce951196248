import Foundation
import LucairWire
import TOMLKit

/// A configuration problem, naming the file, the key and what is wrong.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var key: String
    public var problem: String
    public init(file: String, key: String, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String { "\(file): \(key.isEmpty ? "" : "\(key): ")\(problem)" }
}

public enum ConfigLoader {
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LucairConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, key: "", problem: "cannot read the file (does it exist and is it readable?)")
        }
        return try parse(toml: text, file: path, environment: environment)
    }

    public static func parse(toml: String, file: String, environment: [String: String]) throws -> LucairConfig {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: toml)
        } catch let e as TOMLParseError {
            throw ConfigError(file: file, key: "", problem: "invalid TOML at line \(e.source.begin.line), column \(e.source.begin.column): \(e.description)")
        }
        let json = try JSON.parse(table.convert(to: .json))
        var r = Reader(file: file, env: environment)
        return try r.config(json)
    }

    struct Reader {
        let file: String
        let env: [String: String]

        func fail(_ key: String, _ problem: String) -> ConfigError { ConfigError(file: file, key: key, problem: problem) }

        func obj(_ v: JSONValue?, _ key: String) throws -> JSONObject? {
            guard let v else { return nil }
            guard case .object(let o) = v else { throw fail(key, "expected a table, found a \(v.typeName)") }
            return o
        }

        func str(_ o: JSONObject, _ k: String, _ path: String, required: Bool = false) throws -> String? {
            guard let v = o[k] else {
                if required { throw fail("\(path).\(k)", "is required") }
                return nil
            }
            guard case .string(let s) = v else { throw fail("\(path).\(k)", "expected a string, found a \(v.typeName)") }
            return s
        }

        func int(_ o: JSONObject, _ k: String, _ path: String, min: Int = 0) throws -> Int? {
            guard let v = o[k] else { return nil }
            guard let i = v.intValue else { throw fail("\(path).\(k)", "expected an integer, found \(v.jsonString)") }
            guard i >= min else { throw fail("\(path).\(k)", "must be at least \(min), found \(i)") }
            return i
        }

        func bool(_ o: JSONObject, _ k: String, _ path: String) throws -> Bool? {
            guard let v = o[k] else { return nil }
            guard case .bool(let b) = v else { throw fail("\(path).\(k)", "expected true or false, found \(v.jsonString)") }
            return b
        }

        func known(_ o: JSONObject, _ keys: Set<String>, _ path: String) throws {
            for k in o.keys where !keys.contains(k) {
                throw fail(path.isEmpty ? k : "\(path).\(k)", "unknown key (expected one of: \(keys.sorted().joined(separator: ", ")))")
            }
        }

        /// A secret: `NAME = "literal"` or `NAME_env = "ENV_VAR"`; the environment variable wins.
        func secret(_ o: JSONObject, _ k: String, _ path: String, defaultEnv: String? = nil) throws -> String? {
            let envName = try str(o, "\(k)_env", path) ?? defaultEnv
            if let envName, let v = env[envName], !v.isEmpty { return v }
            return try str(o, k, path)
        }

        mutating func config(_ root: JSONValue) throws -> LucairConfig {
            var c = LucairConfig()
            c.source = file
            guard case .object(let top) = root else { throw fail("", "expected a TOML document") }
            try known(top, ["server", "storage", "auth", "tiers", "embeddings", "prices", "engines", "plans", "router", "ledger", "billing", "serve"], "")
            if let s = try obj(top["server"], "server") {
                try known(s, ["listen", "max_body_bytes", "log_level", "shutdown_grace_ms"], "server")
                if let listen = try str(s, "listen", "server") {
                    guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
                        throw fail("server.listen", "expected HOST:PORT such as \"127.0.0.1:8080\", found \"\(listen)\"")
                    }
                    c.host = String(listen[..<colon])
                    c.port = port
                }
                c.maxBodyBytes = try int(s, "max_body_bytes", "server", min: 1024) ?? c.maxBodyBytes
                c.logLevel = try str(s, "log_level", "server") ?? c.logLevel
                c.shutdownGraceMs = try int(s, "shutdown_grace_ms", "server", min: 0) ?? c.shutdownGraceMs
            }
            if let s = try obj(top["storage"], "storage") {
                try known(s, ["url", "url_env"], "storage")
                c.storageURL = try secret(s, "url", "storage", defaultEnv: "LUCAIR_STORAGE_URL") ?? c.storageURL
            } else if let u = env["LUCAIR_STORAGE_URL"], !u.isEmpty {
                c.storageURL = u
            }
            guard c.storageURL.hasPrefix("sqlite:") || c.storageURL.hasPrefix("postgres://") || c.storageURL.hasPrefix("postgresql://") else {
                throw fail("storage.url", "expected sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB, found \"\(c.storageURL)\"")
            }
            let ledger = try obj(top["ledger"], "ledger") ?? [:]
            try known(ledger, ["signing_key", "signing_key_env", "checkpoint_interval_s"], "ledger")
            c.ledgerSigningKey = try secret(ledger, "signing_key", "ledger", defaultEnv: "LUCAIR_LEDGER_KEY")
            if let k = c.ledgerSigningKey, k.count != 64 || !k.allSatisfy(\.isHexDigit) {
                throw fail("ledger.signing_key", "must be 32 bytes as 64 hex digits (generate one with `lucair ledger keygen`)")
            }
            c.checkpointIntervalSeconds = try int(ledger, "checkpoint_interval_s", "ledger", min: 1) ?? c.checkpointIntervalSeconds
            let serve = try obj(top["serve"], "serve") ?? [:]
            try known(serve, ["spill_wait_ms", "breaker_failures", "breaker_cool_down_ms", "signals_poll_ms"], "serve")
            c.signalsPollMs = try int(serve, "signals_poll_ms", "serve", min: 0) ?? c.signalsPollMs
            c.spillWaitMs = try int(serve, "spill_wait_ms", "serve", min: 0) ?? c.spillWaitMs
            c.breakerFailures = try int(serve, "breaker_failures", "serve", min: 1) ?? c.breakerFailures
            c.breakerCoolDownMs = try int(serve, "breaker_cool_down_ms", "serve", min: 1) ?? c.breakerCoolDownMs
            let billing = try obj(top["billing"], "billing") ?? [:]
            try known(billing, ["stripe_secret_key", "stripe_secret_key_env", "stripe_webhook_secret", "stripe_webhook_secret_env", "stripe_api_base"], "billing")
            c.stripeSecretKey = try secret(billing, "stripe_secret_key", "billing", defaultEnv: "STRIPE_SECRET_KEY")
            c.stripeWebhookSecret = try secret(billing, "stripe_webhook_secret", "billing", defaultEnv: "STRIPE_WEBHOOK_SECRET")
            if let base = env["STRIPE_API_BASE"], !base.isEmpty { c.stripeAPIBase = base } else { c.stripeAPIBase = try str(billing, "stripe_api_base", "billing") ?? c.stripeAPIBase }
            if c.stripeSecretKey != nil, c.stripeWebhookSecret == nil {
                throw fail("billing.stripe_webhook_secret", "Stripe billing is on (a secret key is set) but no webhook secret is: set STRIPE_WEBHOOK_SECRET (whsec_…) so payments can be verified")
            }
            if let r = try obj(top["router"], "router") {
                try known(r, ["model", "low_confidence"], "router")
                c.routerModelPath = try str(r, "model", "router")
                if let v = r["low_confidence"] {
                    guard let d = v.doubleValue, (0...1).contains(d) else { throw fail("router.low_confidence", "expected a number between 0 and 1") }
                    c.routerLowConfidence = d
                }
            }
            let auth = try obj(top["auth"], "auth") ?? [:]
            try known(auth, ["admin_key", "admin_key_env", "key_refresh_ms"], "auth")
            c.keyRefreshMs = try int(auth, "key_refresh_ms", "auth", min: 10) ?? c.keyRefreshMs
            c.adminKey = try secret(auth, "admin_key", "auth", defaultEnv: "LUCAIR_ADMIN_KEY")
            if let k = c.adminKey, !k.hasPrefix("sk-luc-") || k.count < 30 {
                throw fail("auth.admin_key", "must start with 'sk-luc-' and be at least 30 characters (generate one with `lucair keys generate`)")
            }

            if let tiers = try obj(top["tiers"], "tiers") {
                for (name, v) in tiers.sorted(by: { $0.key < $1.key }) {
                    guard let tier = Tier(rawValue: name) else {
                        throw fail("tiers.\(name)", "unknown tier (expected baseline, fast, balanced or frontier)")
                    }
                    guard let t = try obj(v, "tiers.\(name)") else { continue }
                    try known(t, ["deployments"], "tiers.\(name)")
                    guard case .array(let deps)? = t["deployments"], !deps.isEmpty else {
                        throw fail("tiers.\(name).deployments", "needs at least one [[tiers.\(name).deployments]] entry")
                    }
                    for (i, d) in deps.enumerated() {
                        c.deployments.append(try deployment(d, tier: tier, path: "tiers.\(name).deployments[\(i)]"))
                    }
                }
            }
            if let e = try obj(top["embeddings"], "embeddings") {
                try known(e, ["deployments"], "embeddings")
                for (i, d) in (e["deployments"]?.arrayValue ?? []).enumerated() {
                    c.embeddings.append(try deployment(d, tier: .baseline, path: "embeddings.deployments[\(i)]"))
                }
            }
            let names = (c.deployments + c.embeddings).map(\.name)
            if let dup = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw fail("tiers", "deployment name \"\(dup)\" is used twice; names must be unique")
            }
            var tables: [PriceTable] = []
            for (i, p) in (top["prices"]?.arrayValue ?? []).enumerated() {
                let path = "prices[\(i)]"
                guard let o = try obj(p, path) else { continue }
                try known(o, ["version", "effective", "models"], path)
                let effective = try str(o, "effective", path, required: true)!
                guard effective.count == 10, effective.split(separator: "-").count == 3 else {
                    throw fail("\(path).effective", "expected a date YYYY-MM-DD, found \"\(effective)\"")
                }
                var models: [String: ModelPrice] = [:]
                for (m, mv) in try obj(o["models"], "\(path).models") ?? [:] {
                    let mp = "\(path).models.\"\(m)\""
                    guard let e = try obj(mv, mp) else { continue }
                    try known(e, ["input", "cached_input", "cache_write", "output"], mp)
                    guard let input = try int(e, "input", mp), let output = try int(e, "output", mp) else {
                        throw fail(mp, "needs integer 'input' and 'output' prices in nano-USD per token")
                    }
                    models[m] = ModelPrice(
                        input: NanoUSD(input), cachedInput: NanoUSD(try int(e, "cached_input", mp) ?? input),
                        cacheWrite: NanoUSD(try int(e, "cache_write", mp) ?? input), output: NanoUSD(output))
                }
                tables.append(PriceTable(version: try str(o, "version", path) ?? effective, effective: effective, models: models))
            }
            c.prices = PriceBook(tables: tables)
            for m in c.models where c.prices.tables.allSatisfy({ $0.models[m] == nil }) {
                throw fail("prices", "no price for model \"\(m)\"; every served model needs an entry under [prices.models]")
            }
            for (name, v) in try obj(top["plans"], "plans") ?? [:] {
                let path = "plans.\(name)"
                guard let o = try obj(v, path) else { continue }
                try known(o, ["ceiling", "floor", "rpm", "tpm", "max_concurrent", "daily_spend_cap_nano_usd", "monthly_spend_cap_nano_usd", "quality_bar"], path)
                func tier(_ k: String, _ d: Tier) throws -> Tier {
                    guard let t = try str(o, k, path) else { return d }
                    guard let tier = Tier(rawValue: t) else { throw fail("\(path).\(k)", "unknown tier \"\(t)\" (expected baseline, fast, balanced or frontier)") }
                    return tier
                }
                var bar = 0.6
                if let q = o["quality_bar"] {
                    guard let d = q.doubleValue, (0...1).contains(d) else { throw fail("\(path).quality_bar", "expected a number between 0 and 1") }
                    bar = d
                }
                c.plans[name] = Plan(
                    name: name, ceiling: try tier("ceiling", .frontier), floor: try tier("floor", .baseline),
                    limits: Limits(rpm: try int(o, "rpm", path), tpm: try int(o, "tpm", path), maxConcurrent: try int(o, "max_concurrent", path),
                                   dailySpendCapNano: try int(o, "daily_spend_cap_nano_usd", path).map { NanoUSD($0) },
                                   monthlySpendCapNano: try int(o, "monthly_spend_cap_nano_usd", path).map { NanoUSD($0) }),
                    qualityBar: bar)
            }
            for (i, e) in (top["engines"]?.arrayValue ?? []).enumerated() {
                let path = "engines[\(i)]"
                guard let o = try obj(e, path) else { continue }
                try known(o, ["name", "command", "health_url", "startup_timeout_ms", "env"], path)
                guard case .array(let cmd)? = o["command"], !cmd.isEmpty, cmd.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail("\(path).command", "expected a non-empty array of strings")
                }
                var envs: [String: String] = [:]
                for (k, v) in try obj(o["env"], "\(path).env") ?? [:] { envs[k] = v.stringValue ?? v.jsonString }
                c.engines.append(EngineConfig(
                    name: try str(o, "name", path, required: true)!, command: cmd.compactMap(\.stringValue),
                    healthURL: try str(o, "health_url", path, required: true)!,
                    startupTimeoutMs: try int(o, "startup_timeout_ms", path, min: 1) ?? 120_000, env: envs))
            }
            return c
        }

        func deployment(_ v: JSONValue, tier: Tier, path: String) throws -> Deployment {
            guard let o = try obj(v, path) else { throw fail(path, "expected a table") }
            try known(o, ["name", "kind", "url", "model", "upstream_model", "api_key", "api_key_env", "local",
                          "connect_timeout_ms", "first_byte_timeout_ms", "total_timeout_ms", "idle_timeout_ms", "default_max_tokens", "capacity"], path)
            let kindName = try str(o, "kind", path, required: true)!
            guard let kind = Deployment.Kind(rawValue: kindName) else {
                throw fail("\(path).kind", "unknown upstream kind \"\(kindName)\" (expected openai_compatible or anthropic)")
            }
            let url = try str(o, "url", path) ?? (kind == .anthropic ? "https://api.anthropic.com" : "")
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw fail("\(path).url", "expected an http:// or https:// URL, found \"\(url)\"")
            }
            let key = try secret(o, "api_key", path, defaultEnv: kind == .anthropic ? "ANTHROPIC_API_KEY" : nil)
            return Deployment(
                name: try str(o, "name", path, required: true)!, kind: kind, tier: tier,
                url: url.hasSuffix("/") ? String(url.dropLast()) : url,
                model: try str(o, "model", path, required: true)!, upstreamModel: try str(o, "upstream_model", path),
                apiKey: key, local: try bool(o, "local", path),
                connectTimeoutMs: try int(o, "connect_timeout_ms", path, min: 1) ?? 2_000,
                firstByteTimeoutMs: try int(o, "first_byte_timeout_ms", path, min: 1) ?? 60_000,
                totalTimeoutMs: try int(o, "total_timeout_ms", path, min: 1) ?? 600_000,
                idleTimeoutMs: try int(o, "idle_timeout_ms", path, min: 1) ?? 120_000,
                defaultMaxTokens: try int(o, "default_max_tokens", path, min: 1) ?? 4096,
                capacity: try int(o, "capacity", path, min: 1))
        }
    }
}
