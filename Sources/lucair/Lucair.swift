import ArgumentParser
import Foundation
import Logging
import LucairCore
import LucairGateway
import NIOCore
import NIOPosix

@main
struct Lucair: AsyncParsableCommand {
    /// Runs Swift concurrency on NIO's event-loop threads, so a request does not hop between the
    /// socket's thread and the cooperative pool at every await (see docs/benchmarks.md).
    static func main() async {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "lucair",
        abstract: "Lucair: an OpenAI-compatible gateway that serves each call from the cheapest model that clears its quality bar.",
        subcommands: [Serve.self, Tenants.self, Keys.self, ConfigCommand.self, RouterCommand.self, LedgerCommand.self, UsageCommand.self, BillingCommand.self, EnginesCommand.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway. With no --config, runs the embedded default (SQLite + a local llama.cpp model).")

    @Option(help: "Path to lucair.toml. Omit to run the embedded default.")
    var config: String?

    @Option(help: "HOST:PORT to listen on (overrides the config).")
    var listen: String?

    @Option(help: "Folder for the embedded default's database, key and engine logs.")
    var home: String = ProcessInfo.processInfo.environment["LUCAIR_HOME"] ?? ".lucair"

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "lucair")
        let env = ProcessInfo.processInfo.environment
        logger.logLevel = Logger.Level(rawValue: env["LOG_LEVEL"] ?? "info") ?? .info

        var cfg: LucairConfig
        var printedKey: String?
        do {
            if let config {
                cfg = try ConfigLoader.load(path: config)
            } else {
                let (c, key) = try await EmbeddedDefault.config(home: home, listen: listen ?? "127.0.0.1:8080", environment: env)
                cfg = c
                printedKey = key
            }
        } catch let e as ConfigError {
            FileHandle.standardError.write(Data("lucair: configuration error: \(e)\n".utf8))
            throw ExitCode(78)
        }
        if let listen, let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) {
            cfg.host = String(listen[..<colon])
            cfg.port = port
        }
        if let level = Logger.Level(rawValue: cfg.logLevel), env["LOG_LEVEL"] == nil { logger.logLevel = level }

        let gateway = try await Gateway(config: cfg, logger: logger)
        if !gateway.engines.isEmpty {
            logger.info("starting local engines (first start can take a minute)")
            try await gateway.startEngines()
        }
        let host = cfg.host
        let key = printedKey
        let tiers = cfg.tiersServed.map(\.rawValue).joined(separator: ", ")
        let app = LucairApp.build(gateway: gateway) { port in
            var banner = "\nLucair is ready.\n  Base URL: http://\(host):\(port)/v1\n"
            if let printedKey = key {
                banner += "  API key:  \(printedKey)\n\n  Try it:\n    curl http://\(host):\(port)/v1/chat/completions \\\n      -H 'Authorization: Bearer \(printedKey)' -H 'Content-Type: application/json' \\\n      -d '{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"Say hello in French.\"}]}'\n"
            }
            banner += "  Tiers: \(tiers)\n"
            FileHandle.standardOutput.write(Data(banner.utf8))
        }
        try await app.runService()
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "API keys.", subcommands: [Mint.self, List.self, Rotate.self, Revoke.self, Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new random sk-luc- key (for auth.admin_key).")
        func run() { print(APIKeys.generate()) }
    }
}

struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config", abstract: "Configuration.", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a config file and print what it serves.")
        @Option var config: String
        func run() throws {
            do {
                let c = try ConfigLoader.load(path: config)
                print("\(config): OK. Tiers: \(c.tiersServed.map(\.rawValue).joined(separator: ", ")); models: \(c.models.joined(separator: ", "))")
            } catch let e as ConfigError {
                FileHandle.standardError.write(Data("lucair: configuration error: \(e)\n".utf8))
                throw ExitCode(78)
            }
        }
    }
}
