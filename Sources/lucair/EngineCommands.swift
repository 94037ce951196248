import ArgumentParser
import AsyncHTTPClient
import Foundation
import LucairWire
import NIOCore
import NIOHTTP1

/// Talks to a running Lucair's admin API: engines live in that process, not in storage.
struct EnginesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "engines", abstract: "Managed local engines of a running Lucair.",
                                                    subcommands: [List.self, Drain.self, Undrain.self])

    struct Target: ParsableArguments {
        @Option(help: "The running Lucair's base URL.") var url = "http://127.0.0.1:8080"
        @Option(help: "An operator key (default: LUCAIR_ADMIN_KEY, else <home>/admin.key).") var key: String?
        @Option(help: "The embedded default's folder.") var home: String = ProcessInfo.processInfo.environment["LUCAIR_HOME"] ?? ".lucair"

        func call(_ method: HTTPMethod, _ path: String) async throws -> JSONValue {
            let env = ProcessInfo.processInfo.environment
            guard let key = key ?? env["LUCAIR_ADMIN_KEY"].flatMap({ $0.isEmpty ? nil : $0 })
                ?? (try? String(contentsOfFile: "\(home)/admin.key", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw ValidationError("No operator key: pass --key, or set LUCAIR_ADMIN_KEY.")
            }
            var req = HTTPClientRequest(url: url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
            req.method = method
            req.headers.add(name: "Authorization", value: "Bearer \(key)")
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let outcome: Result<(UInt, JSONValue), any Error>
            do {
                let r = try await http.execute(req, timeout: .seconds(10))
                outcome = .success((r.status.code, try JSON.parse(String(buffer: try await r.body.collect(upTo: 1 << 20)))))
            } catch { outcome = .failure(error) }
            try? await http.shutdown()
            let (status, body) = try outcome.get()
            guard status == 200 else {
                throw ValidationError("Lucair answered \(status): \(body["error"]?["message"]?.stringValue ?? body.jsonString)")
            }
            return body
        }
    }

    static func line(_ e: JSONValue) -> String {
        "\(e["name"]?.stringValue ?? "?")  state=\(e["state"]?.stringValue ?? "?")  draining=\(e["draining"]?.boolValue ?? false)  in_flight=\(e["in_flight"]?.intValue ?? 0)  restarts=\(e["restarts"]?.intValue ?? 0)"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each engine: state, draining, requests in flight.")
        @OptionGroup var target: Target
        func run() async throws {
            for e in try await target.call(.GET, "/admin/v1/engines")["data"]?.arrayValue ?? [] { print(EnginesCommand.line(e)) }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take an engine out of service: no new requests (they spill to the next choice), those in flight finish.")
        @Argument(help: "The engine's name ([[engines]] name).") var name: String
        @OptionGroup var target: Target
        @Option(help: "Wait up to this many seconds for the requests in flight to finish (0: do not wait).") var wait = 0

        func run() async throws {
            var e = try await target.call(.POST, "/admin/v1/engines/\(name)/drain")
            let deadline = ContinuousClock.now + .seconds(wait)
            while wait > 0, (e["in_flight"]?.intValue ?? 0) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                e = try await target.call(.GET, "/admin/v1/engines")["data"]?.arrayValue?.first { $0["name"]?.stringValue == name } ?? e
            }
            print(EnginesCommand.line(e))
            if wait > 0, (e["in_flight"]?.intValue ?? 0) > 0 { throw ExitCode(1) }
        }
    }

    struct Undrain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Return a drained engine to service.")
        @Argument(help: "The engine's name.") var name: String
        @OptionGroup var target: Target
        func run() async throws { print(EnginesCommand.line(try await target.call(.POST, "/admin/v1/engines/\(name)/undrain"))) }
    }
}
