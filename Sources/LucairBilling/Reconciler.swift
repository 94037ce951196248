import LucairCore
import LucairStorage
import LucairWire

/// Matches Stripe's balance transactions with the wallet transfers Lucair recorded from Stripe:
/// each charge, refund and dispute on one side to exactly one transfer on the other, to the cent.
public enum Reconciler {
    public struct Line: Sendable, Equatable, CustomStringConvertible {
        public var kind: String
        public var ref: String
        public var cents: Int64
        public var description: String { "\(kind) \(ref) \(Money.usdString(cents * Billing.nanoPerCent)) USD" }
    }

    public struct Report: Sendable {
        public var matched: [Line] = []
        /// On Stripe, not in Lucair's books.
        public var onlyStripe: [Line] = []
        /// In Lucair's books, not on Stripe.
        public var onlyLucair: [Line] = []
        /// On both, with different amounts: (Stripe's, Lucair's).
        public var amountDiffers: [(stripe: Line, lucair: Line)] = []
        public var clean: Bool { onlyStripe.isEmpty && onlyLucair.isEmpty && amountDiffers.isEmpty }
    }

    /// The wallet transfer kind and ref a balance transaction should have produced, with its signed
    /// amount in cents; nil for what never touches a wallet (fees, payouts).
    public static func expected(_ bt: JSONValue) -> Line? {
        guard let type = bt["type"]?.stringValue, let amount = bt["amount"]?.intValue else { return nil }
        let source = bt["source"]
        let sourceId = source?.stringValue ?? source?["id"]?.stringValue ?? ""
        switch type {
        case "charge", "payment":
            // Top-ups are keyed by their PaymentIntent (the expanded charge names it).
            return Line(kind: "topup", ref: source?["payment_intent"]?.stringValue ?? sourceId, cents: Int64(amount))
        case "refund", "payment_refund":
            return Line(kind: "refund", ref: sourceId, cents: Int64(amount))
        case "adjustment", "dispute":
            let category = bt["reporting_category"]?.stringValue ?? ""
            if category == "dispute_reversal" { return Line(kind: "dispute_released", ref: sourceId, cents: Int64(amount)) }
            if category == "dispute" || sourceId.hasPrefix("dp_") { return Line(kind: "dispute", ref: sourceId, cents: Int64(amount)) }
            return nil
        default:
            return nil
        }
    }

    /// A transfer from Stripe as a line: money in positive, money out negative, like Stripe's.
    static func line(_ t: WalletTransferRow) -> Line? {
        guard t.debit.hasSuffix(":stripe") || t.credit.hasSuffix(":stripe") else { return nil }
        let inbound = t.credit.hasPrefix("wallet:")
        let cents = t.amountNano / Billing.nanoPerCent
        return Line(kind: t.kind, ref: t.ref, cents: inbound ? cents : -cents)
    }

    public static func reconcile(balanceTransactions: [JSONValue], transfers: [WalletTransferRow]) -> Report {
        var report = Report()
        var ours: [String: [Line]] = [:]
        for t in transfers {
            guard let l = line(t) else { continue }
            if t.amountNano % Billing.nanoPerCent != 0 { report.onlyLucair.append(l); continue }  // Stripe moves whole cents
            ours["\(l.kind) \(l.ref)", default: []].append(l)
        }
        for bt in balanceTransactions {
            guard let s = expected(bt) else { continue }
            let key = "\(s.kind) \(s.ref)"
            guard var candidates = ours[key], !candidates.isEmpty else { report.onlyStripe.append(s); continue }
            let l = candidates.removeFirst()
            ours[key] = candidates
            if l.cents == s.cents { report.matched.append(s) } else { report.amountDiffers.append((s, l)) }
        }
        report.onlyLucair += ours.values.flatMap { $0 }.sorted { ($0.kind, $0.ref) < ($1.kind, $1.ref) }
        return report
    }

    /// Fetches Stripe's balance transactions since `sinceSeconds` and compares them with storage.
    public static func run(stripe: StripeClient, storage: any Storage, sinceSeconds: Int64) async throws -> Report {
        let bts = try await stripe.list("/v1/balance_transactions", query: [("created", .dict([("gte", .string(String(sinceSeconds)))])), ("expand", .list(["data.source"]))])
        let transfers = try await storage.walletTransfers(sinceMillis: sinceSeconds * 1000)
        return reconcile(balanceTransactions: bts, transfers: transfers)
    }
}
