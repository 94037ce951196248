import ArgumentParser
import Foundation
import Logging
import LucairCore
import LucairGateway
import LucairStorage
import LucairWire

/// Where the admin commands find storage: a config file, or the embedded default's database.
struct StorageOptions: ParsableArguments {
    @Option(help: "Path to lucair.toml (its storage and plans are used).")
    var config: String?

    @Option(help: "Storage URL, when there is no config (default: the embedded default's database).")
    var storage: String?

    @Option(help: "The embedded default's folder.")
    var home: String = ProcessInfo.processInfo.environment["LUCAIR_HOME"] ?? ".lucair"

    func load() throws -> LucairConfig {
        if let config { return try ConfigLoader.load(path: config) }
        var cfg = LucairConfig()
        let env = ProcessInfo.processInfo.environment
        cfg.storageURL = storage ?? env["LUCAIR_STORAGE_URL"] ?? "sqlite://\(home)/lucair.sqlite"
        cfg.ledgerSigningKey = env["LUCAIR_LEDGER_KEY"] ?? (try? String(contentsOfFile: "\(home)/ledger.key", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return cfg
    }

    func open() async throws -> (Tenancy, any Storage) {
        var logger = Logger(label: "lucair-cli")
        logger.logLevel = .warning
        return try await Tenancy.open(config: try load(), logger: logger)
    }
}

struct Tenants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tenancies.", subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenancy.")
        @Argument var name: String
        @Option(help: "internal (meters only) or external (prepaid wallet)") var kind = "internal"
        @Option(help: "starter, pro, enterprise or a plan from the config") var plan = "starter"
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            let t = try await LucairCLI.run { try await tenancy.createTenant(name: name, kind: kind, plan: plan) }
            print("\(t.id)\t\(t.name)\t\(t.kind)\t\(t.plan)")
            try await s.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenancies.")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            print("ID\tNAME\tKIND\tPLAN")
            for t in try await tenancy.tenants() { print("\(t.id)\t\(t.name)\t\(t.kind)\t\(t.plan)") }
            try await s.close()
        }
    }
}

struct KeyLimitOptions: ParsableArguments {
    @Option(help: "Comma-separated endpoints: chat.completions, embeddings, models, route, usage, admin") var endpoints: String?
    @Option(help: "Comma-separated tiers the key may use") var tiers: String?
    @Option(help: "Comma-separated models the key may use") var models: String?
    @Option(help: "Comma-separated IP addresses or CIDR blocks") var ipAllow: String?
    @Option var rpm: Int?
    @Option var tpm: Int?
    @Option var maxConcurrent: Int?
    @Option(help: "Daily spend cap, nano-USD") var dailyCapNanoUsd: Int?
    @Option(help: "Monthly spend cap, nano-USD") var monthlyCapNanoUsd: Int?

    func list(_ s: String?) -> JSONValue? { s.map { .array($0.split(separator: ",").map { .string(String($0)) }) } }

    func scopes() throws -> KeyScopes {
        var o: JSONObject = [:]
        o["endpoints"] = list(endpoints)
        o["tiers"] = list(tiers)
        o["models"] = list(models)
        o["ip_allow_list"] = list(ipAllow)
        do { return try KeyScopes(json: .object(o)) } catch { throw ValidationError(error.message) }
    }

    func limits() -> Limits {
        Limits(rpm: rpm, tpm: tpm, maxConcurrent: maxConcurrent, dailySpendCapNano: dailyCapNanoUsd.map { NanoUSD($0) },
               monthlySpendCapNano: monthlyCapNanoUsd.map { NanoUSD($0) })
    }
}

extension Keys {
    struct Mint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Mint a key for a tenant; prints it once.")
        @Option(help: "Tenant id or name") var tenant: String
        @Option var name = ""
        @Option(help: "tenant, tenant_admin or operator") var role = "tenant"
        @Option(help: "Days until the key expires") var expiresInDays: Int?
        @OptionGroup var scopes: KeyLimitOptions
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            let expires = expiresInDays.map { Int64(Date().timeIntervalSince1970 * 1000) + Int64($0) * 86_400_000 }
            let sc = try scopes.scopes()
            let (key, record) = try await LucairCLI.run {
                try await tenancy.mintKey(tenant: tenant, name: name, role: role, scopes: sc, limits: scopes.limits(), expiresAtMillis: expires)
            }
            FileHandle.standardError.write(Data("key \(record.id) for tenant \(record.tenantId) (shown once):\n".utf8))
            print(key)
            try await s.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's keys (never the secrets).")
        @Option(help: "Tenant id or name") var tenant: String
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            print("ID\tLINEAGE\tPREFIX\tROLE\tSTATUS\tNAME")
            for k in try await LucairCLI.run({ try await tenancy.keys(tenant: tenant) }) {
                print("\(k.id)\t\(k.lineageId)\t\(k.prefix)\t\(k.role)\t\(TenancyJSON.key(k)["status"]?.stringValue ?? "")\t\(k.name)")
            }
            try await s.close()
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key and its rotations (running replicas stop accepting it within ~250 ms).")
        @Argument(help: "Key id or lineage id") var key: String
        @Option(help: "Tenant id or name") var tenant: String
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            let k = try await LucairCLI.run { try await tenancy.revoke(key: key, tenant: tenant) }
            print("revoked \(k.lineageId)")
            try await s.close()
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rotate a key: prints the new key once; the old one works for the grace window.")
        @Argument(help: "Key id or lineage id") var key: String
        @Option(help: "Tenant id or name") var tenant: String
        @Option var graceSeconds = 3600
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (tenancy, s) = try await storage.open()
            let (newKey, record) = try await LucairCLI.run { try await tenancy.rotate(key: key, tenant: tenant, graceSeconds: graceSeconds) }
            FileHandle.standardError.write(Data("key \(record.id), lineage \(record.lineageId) (shown once):\n".utf8))
            print(newKey)
            try await s.close()
        }
    }
}

enum LucairCLI {
    static func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as GatewayError {
            FileHandle.standardError.write(Data("lucair: \(e.message)\n".utf8))
            throw ExitCode(1)
        }
    }
}
