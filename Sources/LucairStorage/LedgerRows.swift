import LucairCore
import LucairLedger
import LucairWire

/// Usage entries are stored without their bytes: their `ledger_entries.canonical` is empty, and
/// reading rebuilds them from the usage row (which holds every field the bytes carry) and the
/// previous entry's stored hash. The bytes repeated the row: without them the ledger's database
/// is 55 % smaller and the writer stores 35–45 % more records a second on SQLite, while verifying
/// reads a third slower (docs/benchmarks.md, Ledger). Rebuilt, they also put the
/// usage rows under verification: a changed amount in `usage_records` no longer matches the
/// entry's hash. Entries of other kinds (wallet moves) keep their bytes, and so do usage entries
/// written before (both read the same way).
enum LedgerRows {
    /// What `canonical` holds for an entry rebuilt from its usage row.
    static let derived = ""

    /// The usage row's columns the bytes carry, read after the entry's `seq, canonical, hash`.
    static let usageColumns = ["request_id", "tenant_id", "key_id", "endpoint", "tier", "model", "status", "estimated",
                               "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens",
                               "price_version", "price_input_nano", "price_cached_input_nano", "price_cache_write_nano",
                               "price_output_nano", "cost_nano", "created_at_ms"]
    /// Where the usage columns start in a row of `select`; `extra` columns follow them.
    static let firstUsageColumn = 3
    static let firstExtraColumn = firstUsageColumn + usageColumns.count

    static let hashes = "SELECT hash FROM ledger_entries WHERE tenant_id = ? ORDER BY seq"

    /// The extra column a lookup of one entry needs: the previous entry's hash (NULL for the first).
    static let previousHash = ", (SELECT p.hash FROM ledger_entries p WHERE p.tenant_id = e.tenant_id AND p.seq = e.seq - 1)"

    /// Entries with their usage rows (NULL for an entry that keeps its bytes); `extra` adds columns.
    static func select(_ extra: String = "") -> String {
        "SELECT e.seq, e.canonical, e.hash, " + usageColumns.map { "u." + $0 }.joined(separator: ", ") + extra
            + " FROM ledger_entries e LEFT JOIN usage_records u ON e.canonical = '' AND u.request_id = e.ref AND u.tenant_id = e.tenant_id"
    }

    /// An entry's bytes: as stored, or rebuilt from its usage row (`text` and `int` read a row of
    /// `select` by column index); empty when that row is missing, which the verifier names.
    /// By index, not by name: verification rebuilds every entry, and looking columns up by name
    /// was a tenth of its time.
    static func canonical(stored: [UInt8], seq: Int64, prevHex: String, text: (Int) -> String?, int: (Int) -> Int64?) -> [UInt8] {
        guard stored.isEmpty else { return stored }
        let u = firstUsageColumn
        guard let id = text(u) else { return [] }
        func i(_ k: Int) -> Int64 { int(u + k) ?? 0 }
        // Prices set after the initialiser, which would price the tokens: a tampered row's numbers
        // could overflow that, and the verifier must name the entry, not trap.
        var r = UsageRecord(
            requestId: id, tenantId: text(u + 1) ?? "", keyId: text(u + 2) ?? "", endpoint: text(u + 3) ?? "", tier: text(u + 4) ?? "",
            model: text(u + 5) ?? "", deployment: "", stream: false, status: Int(i(6)), errorType: nil,
            usage: TokenUsage(input: Int(i(8)), cachedInput: Int(i(9)), cacheWrite: Int(i(10)), output: Int(i(11)), reasoning: Int(i(12)), estimated: i(7) != 0),
            priceVersion: text(u + 13) ?? "", unitPrice: ModelPrice(input: 0, cachedInput: 0, cacheWrite: 0, output: 0),
            queueMicros: 0, ttftMicros: 0, totalMicros: 0, createdAtMillis: i(19))
        r.unitPrice = ModelPrice(input: i(14), cachedInput: i(15), cacheWrite: i(16), output: i(17))
        r.costNano = i(18)  // as stored, not recomputed
        return LedgerEntry.usageCanonical(r, seq: seq, prevHex: prevHex)
    }
}
