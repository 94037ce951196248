import LucairWire
import Testing
@testable import LucairCore

@Suite struct ConfigTests {
    func error(_ toml: String, env: [String: String] = [:]) -> ConfigError? {
        do {
            _ = try ConfigLoader.parse(toml: toml, file: "lucair.toml", environment: env)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            return nil
        }
    }

    static let minimal = """
        [[tiers.baseline.deployments]]
        name = "a"
        kind = "openai_compatible"
        url = "http://127.0.0.1:1/v1"
        model = "m"
        [[prices]]
        effective = "2026-01-01"
        [prices.models.m]
        input = 200
        output = 1000
        """

    @Test func minimalConfigLoadsWithDefaults() throws {
        let c = try ConfigLoader.parse(toml: Self.minimal, file: "x", environment: [:])
        #expect(c.port == 8080 && c.storageURL.hasPrefix("sqlite://"))
        #expect(c.deployments.first?.local == true)
        #expect(c.prices.price(model: "m", onISODate: "2026-06-01")?.price.cachedInput == 200)
    }

    @Test(arguments: [
        ("[server]\nlisten = 8080", "server.listen"),
        ("[server]\nlistne = \"x:1\"", "server.listne"),
        ("[storage]\nurl = \"mysql://x\"", "storage.url"),
        ("[auth]\nadmin_key = \"short\"", "auth.admin_key"),
        ("[tiers.premium]\ndeployments = []", "tiers.premium"),
        ("[[tiers.fast.deployments]]\nname = \"x\"\nkind = \"anthropic\"\nmodel = \"m\"\ntotal_timeout_ms = 0", "tiers.fast.deployments[0].total_timeout_ms"),
        ("[[tiers.fast.deployments]]\nname = \"x\"\nkind = \"anthropic\"", "tiers.fast.deployments[0].model"),
        ("[[tiers.fast.deployments]]\nname = \"x\"\nkind = \"anthropic\"\nmodel = \"unpriced\"", "prices"),
        ("[[prices]]\neffective = \"soon\"", "prices[0].effective"),
        ("[[prices]]\neffective = \"2026-01-01\"\n[prices.models.x]\ninput = 1.5\noutput = 2", "prices[0].models.\"x\".input"),
        ("[server\nlisten = 1", ""),
    ])
    func badConfigNamesFileKeyAndProblem(_ toml: String, _ key: String) {
        let e = error(toml)
        #expect(e?.file == "lucair.toml")
        #expect(e?.key == key, "\(toml) → \(String(describing: e))")
        #expect((e?.problem.count ?? 0) > 5)
    }

    @Test func environmentOverridesSecrets() throws {
        let toml = Self.minimal + "\n[auth]\nadmin_key = \"sk-luc-fromfilefromfilefromfilefromfile\"\n"
        let c = try ConfigLoader.parse(toml: toml, file: "x", environment: ["LUCAIR_ADMIN_KEY": "sk-luc-fromenvfromenvfromenvfromenvfromenv"])
        #expect(c.adminKey == "sk-luc-fromenvfromenvfromenvfromenvfromenv")
        let d = try ConfigLoader.parse(toml: Self.minimal.replacingOccurrences(of: "model = \"m\"", with: "model = \"m\"\napi_key_env = \"VLLM_KEY\""),
                                       file: "x", environment: ["VLLM_KEY": "secret"])
        #expect(d.deployments.first?.apiKey == "secret")
    }

    @Test func theExampleConfigIsValid() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/LucairCoreTests/ConfigTests.swift", with: "config/lucair.example.toml")
        let c = try ConfigLoader.load(path: path, environment: ["LUCAIR_ADMIN_KEY": "sk-luc-abcdefghijklmnopqrstuvwxyz0123456789"])
        #expect(c.tiersServed == Tier.allCases)
    }
}

@Suite struct MoneyTests {
    @Test func centsRoundHalfAwayFromZeroOnce() {
        #expect(Money.cents(4_999_999) == 0)
        #expect(Money.cents(5_000_000) == 1)
        #expect(Money.cents(-5_000_000) == -1)
        #expect(Money.display(1_234_500_000) == "$1.23")
        #expect(Money.display(1_235_000_000) == "$1.24")
        #expect(Money.usdString(27_000) == "0.000027000")
        #expect(Money.usdString(-1_500_000_001) == "-1.500000001")
        #expect(Money.usdString(0) == "0.000000000" && Money.usdString(1_000_000_000) == "1.000000000")
        #expect(Money.usdString(.min) == "-9223372036.854775808" && Money.usdString(.max) == "9223372036.854775807")
    }

    @Test func costPricesEveryTokenKind() {
        let p = ModelPrice(input: 1000, cachedInput: 100, cacheWrite: 1250, output: 5000)
        let u = TokenUsage(input: 1_000_000, cachedInput: 1_000_000, cacheWrite: 1_000_000, output: 1_000_000)
        // $1 + $0.10 + $1.25 + $5 per million of each.
        #expect(p.cost(u) == 7_350_000_000)
    }

    @Test func priceBookPicksTheTableInForce() {
        let a = PriceTable(version: "a", effective: "2026-01-01", models: ["m": ModelPrice(input: 1, cachedInput: 1, cacheWrite: 1, output: 1)])
        let b = PriceTable(version: "b", effective: "2026-07-01", models: ["m": ModelPrice(input: 2, cachedInput: 2, cacheWrite: 2, output: 2)])
        let book = PriceBook(tables: [b, a])
        #expect(book.price(model: "m", onISODate: "2026-06-30")?.version == "a")
        #expect(book.price(model: "m", onISODate: "2026-07-01")?.version == "b")
    }
}
