import ArgumentParser
import AsyncHTTPClient
import Foundation
import LucairBilling
import LucairCore
import LucairGateway

struct BillingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "billing", abstract: "Card billing (Stripe).", subcommands: [Reconcile.self])

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Match Stripe's balance transactions with the wallet transfers, to the cent.",
            discussion: "Every charge, refund and dispute on Stripe must match exactly one ledger transfer, with the same amount, and every transfer from Stripe one balance transaction. Prints what is unmatched on either side; exits 1 on any mismatch.")
        @OptionGroup var storage: StorageOptions
        @Option(help: "First day, YYYY-MM-DD (UTC).") var since: String

        func run() async throws {
            let cfg = try storage.load()
            let env = ProcessInfo.processInfo.environment
            guard let key = cfg.stripeSecretKey ?? env["STRIPE_SECRET_KEY"].flatMap({ $0.isEmpty ? nil : $0 }) else {
                throw ValidationError("No Stripe key: set STRIPE_SECRET_KEY (or [billing] in the config).")
            }
            let base = env["STRIPE_API_BASE"].flatMap { $0.isEmpty ? nil : $0 } ?? cfg.stripeAPIBase
            let sinceSeconds = try UsageCommand.Export.day(since, default: 0) / 1000
            let (_, store) = try await storage.open()
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let outcome: Result<Reconciler.Report, any Error>
            do { outcome = .success(try await Reconciler.run(stripe: StripeClient(base: base, secretKey: key, http: http), storage: store, sinceSeconds: sinceSeconds)) } catch { outcome = .failure(error) }
            try? await http.shutdown()
            try? await store.close()
            let report = try outcome.get()
            print("matched: \(report.matched.count) (\(Money.usdString(report.matched.reduce(0) { $0 + $1.cents } * Billing.nanoPerCent)) USD net)")
            for l in report.onlyStripe { print("only on Stripe: \(l)") }
            for l in report.onlyLucair { print("only in Lucair: \(l)") }
            for (s, l) in report.amountDiffers { print("amount differs: Stripe \(s), Lucair \(l)") }
            if !report.clean {
                print("NOT reconciled: \(report.onlyStripe.count + report.onlyLucair.count + report.amountDiffers.count) difference(s)")
                throw ExitCode(1)
            }
            print("reconciled")
        }
    }
}
