import ArgumentParser
import Foundation
import Logging
import LucairCore
import LucairGateway
import LucairLedger
import LucairStorage
import LucairWire

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Verify, checkpoint, prove and export the hash-chained ledger (docs/ledger.md).",
        subcommands: [Verify.self, CheckpointNow.self, Prove.self, CheckProof.self, Export.self, Keygen.self, PublicKey.self])

    static func service(_ options: StorageOptions) async throws -> (LedgerService, Tenancy, any Storage) {
        let cfg = try options.load()
        let (tenancy, storage) = try await options.open()
        return (LedgerService(storage: storage, signingKeyHex: cfg.ledgerSigningKey, logger: Logger(label: "lucair-cli")), tenancy, storage)
    }

    /// A tenant by id or name.
    static func tenantId(_ nameOrId: String, _ storage: any Storage) async throws -> String {
        if let t = try await storage.tenant(id: nameOrId) { return t.id }
        if let t = try await storage.tenant(named: nameOrId) { return t.id }
        throw ValidationError("No tenant '\(nameOrId)'.")
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recompute every chain and check it against the signed checkpoints; exits 1 at the first broken link.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "Only this tenant (id or name).") var tenant: String?
        @Option(help: "Trust checkpoints signed by this public key (hex) instead of the configured key's.") var publicKey: String?

        func run() async throws {
            let (ledger, _, s) = try await LedgerCommand.service(storage)
            defer { Task { try? await s.close() } }
            var trusted: LedgerPublicKey?
            if let publicKey {
                guard let k = LedgerKey.publicKey(hex: publicKey) else { throw ValidationError("--public-key must be 64 hex digits.") }
                trusted = k
            }
            var id: String?
            if let tenant { id = try await LedgerCommand.tenantId(tenant, s) }
            let start = ContinuousClock.now
            let r = try await ledger.verify(tenantId: id, publicKey: trusted)
            let secs = (ContinuousClock.now - start) / .seconds(1)
            if ledger.key == nil, trusted == nil { print("warning: no signing key configured; checkpoint signatures were not checked") }
            print("checked \(r.entries) entries in \(r.tenants) chains against \(r.checkpoints) checkpoints in \(String(format: "%.3f", secs)) s")
            if let first = r.breaks.first {
                for b in r.breaks { print("BROKEN: \(b)") }
                print("first broken link: \(first)")
                throw ExitCode(1)
            }
            print("ok: every chain is intact")
        }
    }

    struct CheckpointNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Sign a checkpoint of every chain that grew since its last one.")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            let (ledger, _, s) = try await LedgerCommand.service(storage)
            defer { Task { try? await s.close() } }
            guard ledger.key != nil else { throw ValidationError("No signing key: set [ledger] signing_key (or LUCAIR_LEDGER_KEY); `lucair ledger keygen` makes one.") }
            for c in try await ledger.checkpoint() { print("\(c.tenantId)\tsize \(c.size)\troot \(Hex.encode(c.root))") }
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the inclusion proof of one request's ledger entry against its tenant's latest checkpoint.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "The request id (x-lucair-request-id).") var request: String
        @Option(help: "Where to write the proof (JSON); default stdout.") var out: String?

        func run() async throws {
            let (ledger, _, s) = try await LedgerCommand.service(storage)
            defer { Task { try? await s.close() } }
            guard let u = try await s.usage(requestId: request) else { throw ValidationError("No usage record for request \(request).") }
            let proof = try await ledger.proof(tenantId: u.tenantId, ref: request)
            let text = String(decoding: proof.json.serialized(), as: UTF8.self) + "\n"
            if let out { try text.write(toFile: out, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        }
    }

    struct CheckProof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check-proof", abstract: "Check an inclusion proof with nothing but the ledger's public key; exits 1 if it fails.")
        @Argument(help: "The proof file from `lucair ledger prove`.") var file: String
        @Option(help: "The ledger's public key (hex), as published by the operator.") var publicKey: String

        func run() throws {
            guard let k = LedgerKey.publicKey(hex: publicKey) else { throw ValidationError("--public-key must be 64 hex digits.") }
            guard let data = FileManager.default.contents(atPath: file), let json = try? JSON.parse(bytes: data), let proof = InclusionProof(json: json) else {
                throw ValidationError("\(file) is not an inclusion proof.")
            }
            guard proof.verify(key: k) else {
                print("INVALID: the entry is not in the signed checkpoint (or the checkpoint is not signed by this key)")
                throw ExitCode(1)
            }
            print("valid: entry \(proof.index + 1) of \(proof.checkpoint.tenantId) is in the checkpoint of \(proof.checkpoint.size) entries signed at \(proof.checkpoint.createdAtMillis)")
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a tenant's chain and checkpoints as files it can verify on its own.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "Tenant id or name.") var tenant: String
        @Option(help: "Output folder.") var out: String

        func run() async throws {
            let (ledger, _, s) = try await LedgerCommand.service(storage)
            defer { Task { try? await s.close() } }
            let id = try await LedgerCommand.tenantId(tenant, s)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            var lines = ""
            for e in try await s.ledgerEntries(tenantId: id) {
                lines += String(decoding: (["seq": .int(e.seq), "hash": .string(e.hash), "entry": .string(String(decoding: e.canonical, as: UTF8.self))] as JSONValue).serialized(), as: UTF8.self) + "\n"
            }
            try lines.write(toFile: "\(out)/entries.jsonl", atomically: true, encoding: .utf8)
            let cps = JSONValue.array(try await s.checkpoints(tenantId: id).map(\.json))
            try String(decoding: cps.serialized(), as: UTF8.self).write(toFile: "\(out)/checkpoints.json", atomically: true, encoding: .utf8)
            if let pk = ledger.publicKeyHex { try (pk + "\n").write(toFile: "\(out)/public-key.hex", atomically: true, encoding: .utf8) }
            print("wrote \(out)/entries.jsonl, checkpoints.json\(ledger.publicKeyHex == nil ? "" : ", public-key.hex")")
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new Ed25519 signing key (private, hex) for [ledger] signing_key.")
        func run() { print(LedgerKey.generate()) }
    }

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "public-key", abstract: "Print the public key tenants use to check checkpoints and proofs.")
        @OptionGroup var storage: StorageOptions
        func run() async throws {
            guard let hex = try storage.load().ledgerSigningKey, let k = LedgerKey.privateKey(hex: hex) else { throw ValidationError("No signing key configured.") }
            print(Hex.encode(k.publicKey.rawRepresentation))
        }
    }
}
