import ArgumentParser
import Foundation
import LucairCore
import LucairGateway
import LucairStorage
import LucairWire

struct UsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Usage and chargeback.", subcommands: [Export.self])

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Chargeback: usage per tenant (team), key, tier and model in a period, as CSV or JSON.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "One tenant (id or name); default every tenant.") var tenant: String?
        @Option(help: "First day, YYYY-MM-DD (UTC); default 30 days ago.") var from: String?
        @Option(help: "Day after the last, YYYY-MM-DD (UTC); default tomorrow.") var to: String?
        @Option(help: "csv or json.") var format = "csv"
        @Option(help: "Write here instead of stdout.") var out: String?

        static func day(_ s: String?, default d: Int64) throws -> Int64 {
            guard let s else { return d }
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd"
            guard let date = f.date(from: s) else { throw ValidationError("'\(s)' is not a date (YYYY-MM-DD).") }
            return Int64(date.timeIntervalSince1970) * 1000
        }

        func run() async throws {
            guard ["csv", "json"].contains(format) else { throw ValidationError("--format must be csv or json.") }
            let (tenancy, s) = try await storage.open()
            defer { Task { try? await s.close() } }
            let today = Int64(Date().timeIntervalSince1970) / 86400 * 86_400_000
            let fromMs = try Self.day(from, default: today - 30 * 86_400_000), toMs = try Self.day(to, default: today + 86_400_000)
            var tenants: [TenantRecord]
            if let tenant { tenants = [try await tenancy.tenant(tenant)] } else { tenants = try await tenancy.tenants() }
            var csv = "", json: [JSONValue] = []
            for (i, t) in tenants.enumerated() {
                let (record, rows) = try await tenancy.usage(tenant: t.id, fromMillis: fromMs, toMillis: toMs)
                if format == "csv" {
                    let part = Tenancy.csv(record, rows, from: fromMs, to: toMs)
                    csv += i == 0 ? part : String(part.drop(while: { $0 != "\n" }).dropFirst())
                } else {
                    json.append(TenancyJSON.usage(record, rows, from: fromMs, to: toMs))
                }
            }
            let text = format == "csv" ? csv : String(decoding: JSONValue.array(json).serialized(), as: UTF8.self) + "\n"
            if let out { try text.write(toFile: out, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
        }
    }
}
