import LucairCore
import LucairWire

/// The schema, one migration list for both databases. Each entry is applied once, in order, and
/// recorded; a migration is never edited after it ships (add a new one).
enum Schema {
    struct Migration {
        var version: Int
        var name: String
        var sqlite: [String]
        var postgres: [String]
    }

    static let migrations: [Migration] = [
        Migration(
            version: 1, name: "tenants_keys_usage",
            sqlite: [
                "CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created_at_ms INTEGER NOT NULL)",
                "CREATE TABLE api_keys (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL, created_at_ms INTEGER NOT NULL, revoked_at_ms INTEGER)",
                usageDDLv1,
                "CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, created_at_ms)",
            ],
            postgres: [
                "CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, created_at_ms BIGINT NOT NULL)",
                "CREATE TABLE api_keys (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL, created_at_ms BIGINT NOT NULL, revoked_at_ms BIGINT)",
                usageDDLv1,
                "CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, created_at_ms)",
            ]),
        Migration(
            version: 2, name: "plans_limits_scopes_rotation",
            sqlite: v2(bigint: "INTEGER"), postgres: v2(bigint: "BIGINT")),
        Migration(
            version: 3, name: "shared_limits",
            // SQLite counts limits in process (one replica): nothing to add there.
            sqlite: [],
            postgres: [
                // Minute windows: unlogged, since counters need no crash durability (PostgreSQL empties
                // the table after a crash: at worst a minute's counts restart) and no acquire waits for
                // a WAL flush.
                "CREATE UNLOGGED TABLE rate_windows (scope TEXT NOT NULL, window_start BIGINT NOT NULL, requests BIGINT NOT NULL, tokens BIGINT NOT NULL, PRIMARY KEY (scope, window_start))",
                // Spend per scope and period ('d:<day>' / 'm:<year*12+month>'), seeded from usage so far.
                "CREATE TABLE spend_windows (scope TEXT NOT NULL, period TEXT NOT NULL, spent BIGINT NOT NULL, PRIMARY KEY (scope, period))",
                """
                INSERT INTO spend_windows (scope, period, spent)
                SELECT scope, period, SUM(cost_nano)::bigint FROM (
                  SELECT 'k:' || key_id AS scope, 'd:' || (created_at_ms / 86400000) AS period, cost_nano FROM usage_records
                  UNION ALL SELECT 't:' || tenant_id, 'd:' || (created_at_ms / 86400000), cost_nano FROM usage_records
                  UNION ALL SELECT 'k:' || key_id, 'm:' || (EXTRACT(YEAR FROM to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::bigint * 12 + EXTRACT(MONTH FROM to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::bigint), cost_nano FROM usage_records
                  UNION ALL SELECT 't:' || tenant_id, 'm:' || (EXTRACT(YEAR FROM to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::bigint * 12 + EXTRACT(MONTH FROM to_timestamp(created_at_ms / 1000.0) AT TIME ZONE 'UTC')::bigint), cost_nano FROM usage_records
                ) u GROUP BY scope, period
                """,
                // Requests in flight: one lease row per scope, deleted on settle, expiring if a replica dies.
                "CREATE UNLOGGED TABLE inflight (scope TEXT NOT NULL, lease TEXT NOT NULL, expires_at_ms BIGINT NOT NULL, PRIMARY KEY (scope, lease))",
                // All limits of every scope in one call, all or none. Returns 0, or kind*1000 + the
                // 1-based scope index that refused (kind 0: RPM/TPM, 1: concurrency, 2: spend cap).
                // Locking each scope's minute row serialises the concurrency count per scope.
                admitFunction(extraParameters: "", prologue: ""),
                // Settlements arrive in batches (every few ms per replica) instead of one call per
                // request, and never touch a row an admission locks: token differences go to each
                // window's adjustment row (window_start = -window), leases are freed through the
                // primary key, spend is upserted; rows come sorted, so batches never deadlock.
                """
                CREATE OR REPLACE FUNCTION lucair_settle_batch(p_lease_scopes text[], p_leases text[],
                  p_delta_scopes text[], p_delta_windows bigint[], p_deltas bigint[],
                  p_spend_scopes text[], p_spend_periods text[], p_spend bigint[], p_scopes text[], p_window bigint) RETURNS void AS $$
                DECLARE i integer;
                BEGIN
                  FOR i IN 1 .. coalesce(array_length(p_leases, 1), 0) LOOP
                    DELETE FROM inflight WHERE scope = p_lease_scopes[i] AND lease = p_leases[i];
                  END LOOP;
                  FOR i IN 1 .. coalesce(array_length(p_deltas, 1), 0) LOOP
                    INSERT INTO rate_windows (scope, window_start, requests, tokens) VALUES (p_delta_scopes[i], -p_delta_windows[i], 0, p_deltas[i])
                      ON CONFLICT (scope, window_start) DO UPDATE SET tokens = rate_windows.tokens + EXCLUDED.tokens;
                  END LOOP;
                  -- Windows (and their adjustment rows) older than two minutes are done with.
                  DELETE FROM rate_windows WHERE scope = ANY(p_scopes) AND (window_start BETWEEN 0 AND p_window - 3 OR window_start BETWEEN 3 - p_window AND -1);
                  FOR i IN 1 .. coalesce(array_length(p_spend, 1), 0) LOOP
                    INSERT INTO spend_windows (scope, period, spent) VALUES (p_spend_scopes[i], p_spend_periods[i], p_spend[i])
                      ON CONFLICT (scope, period) DO UPDATE SET spent = spend_windows.spent + EXCLUDED.spent;
                  END LOOP;
                END $$ LANGUAGE plpgsql
                """,
            ]),
        Migration(version: 4, name: "ledger", sqlite: ledger(bigint: "INTEGER"), postgres: ledger(bigint: "BIGINT")),
        // Wallets as balanced books: every transfer moves an amount from one account to another, so
        // debits always equal credits. Accounts: `wallet:<tenant>`, `revenue`, `topup:<source>`,
        // `refund:<source>`, `dispute:<source>`.
        Migration(version: 5, name: "wallet_transfers", sqlite: wallets(bigint: "INTEGER"), postgres: wallets(bigint: "BIGINT")),
        // Billing (Stripe): provider events processed once, customer links and auto-recharge
        // settings, recharge attempts, Idempotency-Keys of our own top-up API.
        Migration(version: 6, name: "billing", sqlite: BillingSQL.migration(bigint: "INTEGER"), postgres: BillingSQL.migration(bigint: "BIGINT")),
        // A request served by a higher tier than it was resolved to records where it spilled from.
        Migration(version: 7, name: "usage_spilled_from", sqlite: ["ALTER TABLE usage_records ADD COLUMN spilled_from TEXT"],
                  postgres: ["ALTER TABLE usage_records ADD COLUMN spilled_from TEXT"]),
        // An admission first frees the leases this replica holds for finished requests of the same
        // scopes (they would otherwise wait for the next settle batch), so a client that sends one
        // request after another is never refused by its own finished request.
        Migration(version: 8, name: "admit_releases_leases", sqlite: [], postgres: [
            "DROP FUNCTION lucair_admit(text[], bigint, bigint, bigint[], bigint[], bigint[], text, text, bigint[], bigint[], text, bigint, bigint)",
            admitFunction(extraParameters: ", p_release_scopes text[], p_release_leases text[]", prologue: """
                  FOR i IN 1 .. coalesce(array_length(p_release_leases, 1), 0) LOOP
                    DELETE FROM inflight WHERE scope = p_release_scopes[i] AND lease = p_release_leases[i];
                  END LOOP;

                """),
        ]),
        // Quota in blocks: a replica takes a share of a scope's minute window (requests, tokens)
        // and spends it without a round trip per request; what it was granted is counted here, so
        // the combined count still never exceeds the limit.
        Migration(version: 9, name: "grant_quota_blocks", sqlite: [], postgres: [grantFunction, settleFunction, pruneFunction]),
    ]

    /// `lucair_grant` (migration 9): every limit of the scopes a replica cannot serve from its own
    /// blocks, in one call, all or none. Per scope it must grant `need` requests and tokens (else it
    /// refuses) and grants up to `want`, what the window has left. Returns {0, then per scope:
    /// requests, tokens, day's spend, month's spend} or {kind*1000 + the 1-based scope index}.
    static let grantFunction = """
        CREATE OR REPLACE FUNCTION lucair_grant(p_scopes text[], p_window bigint, p_need_r bigint[], p_want_r bigint[],
          p_need_t bigint[], p_want_t bigint[], p_rlims bigint[], p_tlims bigint[], p_clims bigint[], p_slot boolean[],
          p_day text, p_month text, p_dcaps bigint[], p_mcaps bigint[], p_lease text, p_now bigint, p_lease_ms bigint,
          p_release_scopes text[], p_release_leases text[])
        RETURNS bigint[] AS $$
        DECLARE i integer; r record; n bigint; sd bigint; sm bigint; used bigint;
          gr bigint[] := '{}'; gt bigint[] := '{}'; result bigint[] := '{0}';
        BEGIN
          FOR i IN 1 .. coalesce(array_length(p_release_leases, 1), 0) LOOP
            DELETE FROM inflight WHERE scope = p_release_scopes[i] AND lease = p_release_leases[i];
          END LOOP;
          FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
            -- The window's row exists after a scope's first grant of the minute: insert only then.
            SELECT requests, tokens INTO r FROM rate_windows WHERE scope = p_scopes[i] AND window_start = p_window FOR UPDATE;
            IF NOT FOUND THEN
              INSERT INTO rate_windows (scope, window_start, requests, tokens) VALUES (p_scopes[i], p_window, 0, 0) ON CONFLICT DO NOTHING;
              SELECT requests, tokens INTO r FROM rate_windows WHERE scope = p_scopes[i] AND window_start = p_window FOR UPDATE;
            END IF;
            sd := 0; sm := 0;
            IF p_dcaps[i] >= 0 THEN
              SELECT coalesce(max(w.spent), 0) INTO sd FROM spend_windows w WHERE w.scope = p_scopes[i] AND w.period = p_day;
              IF sd >= p_dcaps[i] THEN RETURN ARRAY[2000 + i]; END IF;
            END IF;
            IF p_mcaps[i] >= 0 THEN
              SELECT coalesce(max(w.spent), 0) INTO sm FROM spend_windows w WHERE w.scope = p_scopes[i] AND w.period = p_month;
              IF sm >= p_mcaps[i] THEN RETURN ARRAY[2000 + i]; END IF;
            END IF;
            IF p_slot[i] THEN
              SELECT count(*) INTO n FROM inflight f WHERE f.scope = p_scopes[i] AND f.expires_at_ms > p_now;
              IF n >= p_clims[i] THEN RETURN ARRAY[1000 + i]; END IF;
            END IF;
            -- Blocks settle tokens in the replica (no adjustment rows as lucair_admit had).
            used := r.tokens;
            IF (p_rlims[i] >= 0 AND r.requests + p_need_r[i] > p_rlims[i]) OR (p_tlims[i] >= 0 AND used + p_need_t[i] > p_tlims[i]) THEN
              RETURN ARRAY[i];
            END IF;
            gr := gr || CASE WHEN p_rlims[i] >= 0 THEN LEAST(p_want_r[i], p_rlims[i] - r.requests) ELSE p_want_r[i] END;
            gt := gt || CASE WHEN p_tlims[i] >= 0 THEN LEAST(p_want_t[i], p_tlims[i] - used) ELSE p_want_t[i] END;
            result := result || gr[i] || gt[i] || sd || sm;
          END LOOP;
          FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
            IF gr[i] <> 0 OR gt[i] <> 0 THEN
              UPDATE rate_windows SET requests = requests + gr[i], tokens = tokens + gt[i] WHERE scope = p_scopes[i] AND window_start = p_window;
            END IF;
          END LOOP;
          IF true = ANY(p_slot) THEN
            INSERT INTO inflight (scope, lease, expires_at_ms)
              SELECT p_scopes[j], p_lease, p_now + p_lease_ms FROM generate_subscripts(p_scopes, 1) AS j WHERE p_slot[j];
          END IF;
          RETURN result;
        END $$ LANGUAGE plpgsql
        """

    /// `lucair_settle_blocks` (migration 9): a replica's batch of slots given back and spend added
    /// (tokens settle in the replica's blocks, old windows go with `lucair_prune`). Rows come sorted,
    /// so batches never deadlock.
    static let settleFunction = """
        CREATE OR REPLACE FUNCTION lucair_settle_blocks(p_lease_scopes text[], p_leases text[],
          p_spend_scopes text[], p_spend_periods text[], p_spend bigint[]) RETURNS void AS $$
        DECLARE i integer;
        BEGIN
          FOR i IN 1 .. coalesce(array_length(p_leases, 1), 0) LOOP
            DELETE FROM inflight WHERE scope = p_lease_scopes[i] AND lease = p_leases[i];
          END LOOP;
          FOR i IN 1 .. coalesce(array_length(p_spend, 1), 0) LOOP
            INSERT INTO spend_windows (scope, period, spent) VALUES (p_spend_scopes[i], p_spend_periods[i], p_spend[i])
              ON CONFLICT (scope, period) DO UPDATE SET spent = spend_windows.spent + EXCLUDED.spent;
          END LOOP;
        END $$ LANGUAGE plpgsql
        """

    /// `lucair_prune` (migration 9): minute windows older than two minutes, and the lease rows of
    /// replicas that died, are done with. Each replica calls it once a minute, off the request path.
    static let pruneFunction = """
        CREATE OR REPLACE FUNCTION lucair_prune(p_window bigint, p_now bigint) RETURNS void AS $$
        BEGIN
          DELETE FROM rate_windows WHERE window_start BETWEEN 0 AND p_window - 3 OR window_start BETWEEN 3 - p_window AND -1;
          DELETE FROM inflight WHERE expires_at_ms < p_now;
        END $$ LANGUAGE plpgsql
        """

    /// `lucair_admit`: every limit of every scope in one call (migration 3), with the lease releases
    /// it takes first since migration 8.
    static func admitFunction(extraParameters: String, prologue: String) -> String {
        """
        CREATE OR REPLACE FUNCTION lucair_admit(p_scopes text[], p_window bigint, p_tokens bigint, p_rlims bigint[], p_tlims bigint[],
          p_clims bigint[], p_day text, p_month text, p_dcaps bigint[], p_mcaps bigint[], p_lease text, p_now bigint, p_lease_ms bigint\(extraParameters))
        RETURNS integer AS $$
        DECLARE i integer; r record; n bigint; spent bigint; adj bigint;
        BEGIN
        \(prologue)  INSERT INTO rate_windows (scope, window_start, requests, tokens)
            SELECT s, p_window, 0, 0 FROM unnest(p_scopes) AS s ON CONFLICT DO NOTHING;
          FOR i IN 1 .. coalesce(array_length(p_scopes, 1), 0) LOOP
            SELECT requests, tokens INTO r FROM rate_windows WHERE scope = p_scopes[i] AND window_start = p_window FOR UPDATE;
            -- Settled token differences live in the window's adjustment row (-window), which
            -- settlement batches update without waiting for, or blocking, this lock.
            SELECT coalesce(max(w.tokens), 0) INTO adj FROM rate_windows w WHERE w.scope = p_scopes[i] AND w.window_start = -p_window;
            IF p_dcaps[i] >= 0 THEN
              SELECT coalesce(max(w.spent), 0) INTO spent FROM spend_windows w WHERE w.scope = p_scopes[i] AND w.period = p_day;
              IF spent >= p_dcaps[i] THEN RETURN 2000 + i; END IF;
            END IF;
            IF p_mcaps[i] >= 0 THEN
              SELECT coalesce(max(w.spent), 0) INTO spent FROM spend_windows w WHERE w.scope = p_scopes[i] AND w.period = p_month;
              IF spent >= p_mcaps[i] THEN RETURN 2000 + i; END IF;
            END IF;
            IF p_clims[i] >= 0 THEN
              SELECT count(*) INTO n FROM inflight f WHERE f.scope = p_scopes[i] AND f.expires_at_ms > p_now;
              IF n >= p_clims[i] THEN RETURN 1000 + i; END IF;
            END IF;
            IF (p_rlims[i] >= 0 AND r.requests + 1 > p_rlims[i]) OR (p_tlims[i] >= 0 AND GREATEST(0, r.tokens + adj) + p_tokens > p_tlims[i]) THEN
              RETURN i;
            END IF;
          END LOOP;
          UPDATE rate_windows SET requests = requests + 1, tokens = tokens + p_tokens
            WHERE scope = ANY(p_scopes) AND window_start = p_window;
          INSERT INTO inflight (scope, lease, expires_at_ms)
            SELECT p_scopes[j], p_lease, p_now + p_lease_ms FROM generate_subscripts(p_scopes, 1) AS j WHERE p_clims[j] >= 0;
          RETURN 0;
        END $$ LANGUAGE plpgsql
        """
    }

    static func wallets(bigint: String) -> [String] {
        [
            "CREATE TABLE wallet_transfers (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, kind TEXT NOT NULL, debit TEXT NOT NULL, credit TEXT NOT NULL, amount_nano \(bigint) NOT NULL CHECK (amount_nano > 0), ref TEXT NOT NULL, created_at_ms \(bigint) NOT NULL)",
            "CREATE UNIQUE INDEX wallet_transfers_ref ON wallet_transfers (kind, ref)",
            "CREATE INDEX wallet_transfers_tenant ON wallet_transfers (tenant_id)",
        ]
    }

    /// Balance of every wallet account: credits in, debits out.
    /// Sums are cast to BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC, which reads back as nothing.
    static let walletBalancesSQL = """
        SELECT tenant_id, CAST(SUM(CASE WHEN credit = 'wallet:' || tenant_id THEN amount_nano ELSE 0 END)
          - SUM(CASE WHEN debit = 'wallet:' || tenant_id THEN amount_nano ELSE 0 END) AS BIGINT) AS balance
        FROM wallet_transfers GROUP BY tenant_id
        """

    /// The hash-chained ledger (LucairLedger): entries per tenant, each tenant's head (last hash and
    /// Merkle frontier, updated in the same transaction), and signed checkpoints.
    static func ledger(bigint: String) -> [String] {
        [
            "CREATE TABLE ledger_entries (tenant_id TEXT NOT NULL, seq \(bigint) NOT NULL, kind TEXT NOT NULL, ref TEXT NOT NULL, canonical TEXT NOT NULL, hash TEXT NOT NULL, created_at_ms \(bigint) NOT NULL, PRIMARY KEY (tenant_id, seq))",
            // No index on ref: entries are appended once per newly stored usage record (its primary
            // key) or top-up (wallet_transfers' unique key), and looking one up is rare (proofs).
            "CREATE TABLE ledger_heads (tenant_id TEXT PRIMARY KEY, seq \(bigint) NOT NULL, hash TEXT NOT NULL, frontier TEXT NOT NULL)",
            "CREATE TABLE ledger_checkpoints (tenant_id TEXT NOT NULL, size \(bigint) NOT NULL, head TEXT NOT NULL, root TEXT NOT NULL, created_at_ms \(bigint) NOT NULL, signature TEXT NOT NULL, PRIMARY KEY (tenant_id, created_at_ms))",
        ]
    }

    static func v2(bigint: String) -> [String] {
        [
            "ALTER TABLE tenants ADD COLUMN plan TEXT NOT NULL DEFAULT 'enterprise'",
            "ALTER TABLE tenants ADD COLUMN limits_json TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE api_keys ADD COLUMN lineage_id TEXT NOT NULL DEFAULT ''",
            "UPDATE api_keys SET lineage_id = id",
            "ALTER TABLE api_keys ADD COLUMN scopes_json TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE api_keys ADD COLUMN limits_json TEXT NOT NULL DEFAULT '{}'",
            "ALTER TABLE api_keys ADD COLUMN expires_at_ms \(bigint)",
            "CREATE INDEX api_keys_tenant ON api_keys (tenant_id)",
            "CREATE INDEX api_keys_lineage ON api_keys (lineage_id)",
            "CREATE TABLE lucair_state (name TEXT PRIMARY KEY, version \(bigint) NOT NULL)",
            "INSERT INTO lucair_state (name, version) VALUES ('keys', 1)",
        ]
    }

    static let tenantColumns = "id, name, kind, plan, limits_json, created_at_ms"
    static let keyColumns = "id, lineage_id, tenant_id, hash, prefix, role, name, scopes_json, limits_json, created_at_ms, expires_at_ms, revoked_at_ms"
    static let bumpKeysVersion = "UPDATE lucair_state SET version = version + 1 WHERE name = 'keys'"

    static func tenant(text: (String) -> String?, int: (String) -> Int64?) -> TenantRecord {
        TenantRecord(id: text("id") ?? "", name: text("name") ?? "", kind: text("kind") ?? "", plan: text("plan") ?? "enterprise",
                     limits: (try? Limits(json: try? JSON.parse(text("limits_json") ?? "{}"))) ?? Limits(),
                     createdAtMillis: int("created_at_ms") ?? 0)
    }

    static func key(text: (String) -> String?, int: (String) -> Int64?) -> APIKeyRecord {
        APIKeyRecord(id: text("id") ?? "", lineageId: text("lineage_id"), tenantId: text("tenant_id") ?? "", hash: text("hash") ?? "",
                     prefix: text("prefix") ?? "", role: text("role") ?? "tenant", name: text("name") ?? "",
                     scopes: (try? KeyScopes(json: try? JSON.parse(text("scopes_json") ?? "{}"))) ?? KeyScopes(),
                     limits: (try? Limits(json: try? JSON.parse(text("limits_json") ?? "{}"))) ?? Limits(),
                     createdAtMillis: int("created_at_ms") ?? 0, expiresAtMillis: int("expires_at_ms"), revokedAtMillis: int("revoked_at_ms"))
    }

    static func keyValues(_ k: APIKeyRecord) -> [Value] {
        [.text(k.id), .text(k.lineageId), .text(k.tenantId), .text(k.hash), .text(k.prefix), .text(k.role), .text(k.name),
         .text(k.scopes.json.jsonString), .text(k.limits.json.jsonString), .int(k.createdAtMillis),
         k.expiresAtMillis.map { .int($0) } ?? .null, k.revokedAtMillis.map { .int($0) } ?? .null]
    }

    static let usageSummarySQL = """
        SELECT key_id, tier, model, COUNT(*) AS requests, CAST(SUM(input_tokens) AS BIGINT) AS input_tokens, CAST(SUM(cached_input_tokens) AS BIGINT) AS cached_input_tokens,
               CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens, CAST(SUM(output_tokens) AS BIGINT) AS output_tokens, CAST(SUM(cost_nano) AS BIGINT) AS cost_nano
        FROM usage_records WHERE tenant_id = $1 AND created_at_ms >= $2 AND created_at_ms < $3
        GROUP BY key_id, tier, model ORDER BY key_id, tier, model
        """

    static let spendSQL = "SELECT tenant_id, key_id, CAST(SUM(cost_nano) AS BIGINT) AS cost_nano FROM usage_records WHERE created_at_ms >= $1 GROUP BY tenant_id, key_id"

    /// Usage record columns in insert order: those of migration 1, then those added since. These SQL
    /// types mean the same in SQLite and PostgreSQL.
    static let usageColumns: [(name: String, type: String)] = usageColumnsV1 + [("spilled_from", "TEXT")]

    /// As migration 1 created the table (frozen: later columns arrive by their own migrations).
    static let usageColumnsV1: [(name: String, type: String)] = {
        let big = "BIGINT NOT NULL", flag = "BOOLEAN NOT NULL", text = "TEXT NOT NULL"
        return [
            ("request_id", "TEXT PRIMARY KEY"), ("tenant_id", text), ("key_id", text), ("endpoint", text), ("tier", text),
            ("model", text), ("deployment", text), ("stream", flag), ("status", "INTEGER NOT NULL"), ("error_type", "TEXT"),
            ("input_tokens", big), ("cached_input_tokens", big), ("cache_write_tokens", big), ("output_tokens", big),
            ("reasoning_tokens", big), ("estimated", flag), ("price_version", text),
            ("price_input_nano", big), ("price_cached_input_nano", big), ("price_cache_write_nano", big), ("price_output_nano", big),
            ("cost_nano", big), ("queue_us", big), ("ttft_us", big), ("total_us", big), ("created_at_ms", big),
        ]
    }()

    static let usageDDLv1 = "CREATE TABLE usage_records (" + usageColumnsV1.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + ")"

    /// A value to bind, the same for both databases.
    enum Value: Sendable {
        case text(String)
        case int(Int64)
        case bool(Bool)
        case null
    }

    static func usageValues(_ r: UsageRecord) -> [Value] {
        [
            .text(r.requestId), .text(r.tenantId), .text(r.keyId), .text(r.endpoint), .text(r.tier), .text(r.model),
            .text(r.deployment), .bool(r.stream), .int(Int64(r.status)), r.errorType.map { .text($0) } ?? .null,
            .int(Int64(r.inputTokens)), .int(Int64(r.cachedInputTokens)), .int(Int64(r.cacheWriteTokens)),
            .int(Int64(r.outputTokens)), .int(Int64(r.reasoningTokens)), .bool(r.estimated), .text(r.priceVersion),
            .int(r.unitPrice.input), .int(r.unitPrice.cachedInput), .int(r.unitPrice.cacheWrite), .int(r.unitPrice.output),
            .int(r.costNano), .int(r.queueMicros), .int(r.ttftMicros), .int(r.totalMicros), .int(r.createdAtMillis),
            r.spilledFrom.map { .text($0) } ?? .null,
        ]
    }

    /// Rebuilds a record from a row read by column name.
    static func usageRecord(text: (String) -> String?, int: (String) -> Int64?) -> UsageRecord? {
        guard let id = text("request_id") else { return nil }
        var r = UsageRecord(
            requestId: id, tenantId: text("tenant_id") ?? "", keyId: text("key_id") ?? "", endpoint: text("endpoint") ?? "",
            tier: text("tier") ?? "", model: text("model") ?? "", deployment: text("deployment") ?? "",
            stream: (int("stream") ?? 0) != 0, status: Int(int("status") ?? 0), errorType: text("error_type"),
            usage: .init(input: Int(int("input_tokens") ?? 0), cachedInput: Int(int("cached_input_tokens") ?? 0),
                         cacheWrite: Int(int("cache_write_tokens") ?? 0), output: Int(int("output_tokens") ?? 0),
                         reasoning: Int(int("reasoning_tokens") ?? 0), estimated: (int("estimated") ?? 0) != 0),
            priceVersion: text("price_version") ?? "",
            unitPrice: ModelPrice(input: int("price_input_nano") ?? 0, cachedInput: int("price_cached_input_nano") ?? 0,
                                  cacheWrite: int("price_cache_write_nano") ?? 0, output: int("price_output_nano") ?? 0),
            queueMicros: int("queue_us") ?? 0, ttftMicros: int("ttft_us") ?? 0, totalMicros: int("total_us") ?? 0,
            createdAtMillis: int("created_at_ms") ?? 0)
        r.costNano = int("cost_nano") ?? r.costNano  // as stored, not recomputed
        r.spilledFrom = text("spilled_from")
        return r
    }
}
