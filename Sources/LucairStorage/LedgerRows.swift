import LucairCore
import LucairLedger

/// Usage entries are stored without their bytes: their `ledger_entries.canonical` is empty, and
/// reading rebuilds them from the usage row (which holds every field the bytes carry) and the
/// previous entry's stored hash. The bytes repeated the row: storing them made the ledger twice as
/// large and each record a fifth slower to write (docs/benchmarks.md). Rebuilt, they also put the
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
    /// Each usage column's index in a row of `select`.
    static let usageIndex = Dictionary(uniqueKeysWithValues: usageColumns.enumerated().map { ($1, $0 + 3) })

    /// Entries with their usage rows (NULL for an entry that keeps its bytes); `extra` adds columns.
    static func select(_ extra: String = "") -> String {
        "SELECT e.seq, e.canonical, e.hash, " + usageColumns.map { "u." + $0 }.joined(separator: ", ") + extra
            + " FROM ledger_entries e LEFT JOIN usage_records u ON e.canonical = '' AND u.request_id = e.ref"
    }

    /// An entry's bytes: as stored, or rebuilt from its usage row (read by column name); empty when
    /// that row is missing, which the verifier names.
    static func canonical(stored: [UInt8], seq: Int64, prevHex: String, text: (String) -> String?, int: (String) -> Int64?) -> [UInt8] {
        guard stored.isEmpty else { return stored }
        guard let r = Schema.usageRecord(text: text, int: int) else { return [] }
        return LedgerEntry.usageCanonical(r, seq: seq, prevHex: prevHex)
    }
}
