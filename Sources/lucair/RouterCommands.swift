import ArgumentParser
import Foundation
import LucairCore
import LucairGateway
import LucairRouter
import LucairWire

struct RouterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "router", abstract: "Score and evaluate the router offline (routing-data JSONL, see docs/router.md).",
        subcommands: [Score.self, Eval.self])

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
}
