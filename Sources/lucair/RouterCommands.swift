import ArgumentParser
import Foundation
import LucairCore
import LucairGateway
import LucairRouter
import LucairWire

struct RouterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router", abstract: "Score and evaluate the router offline (routing-data JSONL, see docs/router.md).",
        subcommands: [Score.self, Eval.self, Mix.self])

    struct Options: ParsableArguments {
        @Option(help: "Rows in the routing-data format: one JSON object per line with id and messages.")
        var data: String
        @Option(help: "A router artifact other than the built-in one.")
        var model: String?
    }

    /// Each row's id and messages, parsed from a JSONL file; `keep` sees the whole row.
    static func rows(_ path: String) throws -> [JSONValue] {
        guard let bytes = FileManager.default.contents(atPath: path) else { throw ValidationError("Cannot read \(path).") }
        var out: [JSONValue] = []
        for (n, line) in bytes.split(separator: UInt8(ascii: "\n")).enumerated() where !line.allSatisfy({ $0 == 32 || $0 == 13 }) {
            do { out.append(try JSON.parse(bytes: line)) } catch { throw ValidationError("\(path):\(n + 1): not JSON (\(error)).") }
        }
        return out
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write {\"id\", \"score\"} per row (higher = needs a stronger model), from each row's messages only.")
        @OptionGroup var options: Options
        @Option(help: "Where to write the scores (JSONL).")
        var out: String

        func run() throws {
            let assessor = Assessor(model: try RouterArtifact.load(path: options.model))
            var text = ""
            for row in try RouterCommand.rows(options.data) {
                // Only `messages` is read: outcome fields are never looked at.
                let score = assessor.score(messages: row["messages"]?.arrayValue ?? [])
                let line: JSONValue = ["id": row["id"] ?? .null, "score": .double(score)]
                text += line.jsonString + "\n"
            }
            try text.write(toFile: out, atomically: true, encoding: .utf8)
        }
    }

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print APGR, CPT(50%) and CPT(80%) of the router, a random router and the oracle (contaminated rows left out).")
        @OptionGroup var options: Options

        func run() throws {
            let assessor = Assessor(model: try RouterArtifact.load(path: options.model))
            var scores: [Double] = [], weak: [Double] = [], strong: [Double] = []
            for row in try RouterCommand.rows(options.data) where row["contaminated"]?.boolValue != true {
                guard let w = row["weak"]?["score"]?.doubleValue, let s = row["strong"]?["score"]?.doubleValue else {
                    throw ValidationError("Row \(row["id"]?.stringValue ?? "?") has no weak.score / strong.score: eval needs outcomes (score needs none).")
                }
                scores.append(assessor.score(messages: row["messages"]?.arrayValue ?? []))
                weak.append(w)
                strong.append(s)
            }
            guard !scores.isEmpty else { throw ValidationError("No rows to evaluate in \(options.data).") }
            func line(_ name: String, _ r: RouterMetrics.Result) -> String {
                "| \(name) | \(pct(r.cpt50)) | \(pct(r.cpt80)) | \(String(format: "%.3f", r.apgr)) |"
            }
            print("\(options.data): \(scores.count) rows, router \(assessor.model.version)\n")
            print("| router | CPT(50%) | CPT(80%) | APGR |\n|---|---|---|---|")
            print(line("lucair", RouterMetrics.evaluate(scores: scores, weak: weak, strong: strong)))
            print(line("random (mean of 200)", RouterMetrics.random(weak: weak, strong: strong)))
            print(line("oracle", RouterMetrics.oracle(weak: weak, strong: strong)))
        }

        func pct(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }
    }

    struct Mix: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Route a workload (JSONL of {id, kind, messages}) and report the tier mix and its cost against one-model setups.")
        @OptionGroup var options: Options
        @Option(help: "The quality bar (the built-in plans use 0.6 and, for enterprise, 0.7).")
        var bar: Double = 0.6
        @Option(help: "The model serving each tier, in ladder order, priced from the built-in price table.")
        var models: String = "ministral-8b,claude-haiku-4-5,claude-sonnet-4-6,claude-opus-4-8"

        func run() throws {
            let router = AutoRouter(model: try RouterArtifact.load(path: options.model))
            let prices = try ConfigLoader.parse(toml: EmbeddedDefault.pricesTOML, file: "(built-in prices)", environment: [:]).prices
            guard let table = prices.tables.last else { throw ValidationError("No built-in price table.") }
            let names = models.split(separator: ",").map(String.init)
            guard names.count == 4 else { throw ValidationError("--models needs four models, one per tier.") }
            let price = try names.map { n in
                guard let p = table.models[n] else { throw ValidationError("No price for \(n) in the built-in table.") }
                return p
            }
            var requests = [Int](repeating: 0, count: 4), tokens = [Int](repeating: 0, count: 4)
            var cost = [NanoUSD](repeating: 0, count: 5)  // Lucair, then all-baseline … all-frontier
            var quality = [Double](repeating: 0, count: 5)
            var byKind: [String: [Int]] = [:]
            var total = 0
            let rows = try RouterCommand.rows(options.data)
            for row in rows {
                let r = try ChatRequest.parse(["model": "auto", "messages": row["messages"] ?? []])
                let (a, d) = router.route(r, bar: bar)
                let usage = TokenUsage(input: a.promptTokens, output: a.expectedOutputTokens)
                let t = d.tier.rank
                requests[t] += 1
                tokens[t] += usage.inputTokens + usage.outputTokens
                total += usage.inputTokens + usage.outputTokens
                cost[0] += price[t].cost(usage)
                quality[0] += a.probability(d.tier)
                for (i, tier) in Tier.allCases.enumerated() {
                    cost[i + 1] += price[i].cost(usage)
                    quality[i + 1] += a.probability(tier)
                }
                byKind[row["kind"]?.stringValue ?? "?", default: [0, 0, 0, 0]][t] += 1
            }
            guard total > 0 else { throw ValidationError("No rows in \(options.data).") }
            let n = Double(rows.count)
            func pct(_ x: Int, _ of: Int) -> String { String(format: "%.1f%%", 100 * Double(x) / Double(max(1, of))) }
            // Integer nano-USD throughout; cents and hundredths only for display.
            func perM(_ c: NanoUSD) -> String { Money.display(c * 1_000_000 / Int64(total)) }
            func times(_ c: NanoUSD, _ base: NanoUSD) -> String {
                let h = (c * 100 + base / 2) / base
                return "\(h / 100).\(h % 100 < 10 ? "0" : "")\(h % 100)"
            }
            print("\(options.data): \(rows.count) requests, \(total) tokens (prompt estimate + expected output), bar \(bar), router \(router.version)\n")
            print("| tier | model | requests | tokens |\n|---|---|---|---|")
            for (i, tier) in Tier.allCases.enumerated() {
                print("| \(tier.rawValue) | \(names[i]) | \(pct(requests[i], rows.count)) | \(pct(tokens[i], total)) |")
            }
            print("\n| setup | cost per 1M tokens | × all-\(names[1]) | mean P(good enough), router's estimate |\n|---|---|---|---|")
            let labels = ["Lucair auto"] + names.map { "all \($0)" }
            for i in 0..<5 {
                print("| \(labels[i]) | \(perM(cost[i])) | \(times(cost[i], cost[2])) | \(String(format: "%.3f", quality[i] / n)) |")
            }
            print("\n| kind | baseline | fast | balanced | frontier |\n|---|---|---|---|---|")
            for (kind, c) in byKind.sorted(by: { $0.key < $1.key }) {
                print("| \(kind) | " + c.map { pct($0, c.reduce(0, +)) }.joined(separator: " | ") + " |")
            }
        }
    }
}
