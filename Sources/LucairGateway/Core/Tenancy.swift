import Foundation
import Logging
import LucairCore
import LucairStorage
import LucairWire

/// Tenancies and their keys: what the admin API, the tenant self-serve API and the CLI call.
/// Knows no HTTP; every change goes through storage (which bumps the keys version) and then
/// reloads this replica's key ring at once.
public struct Tenancy: Sendable {
    let storage: any Storage
    let plans: [String: Plan]
    let refresher: KeyRefresher

    public static let roles = ["operator", "tenant_admin", "tenant"]

    /// For the CLI: storage from the config, migrated; changes reach running replicas through the
    /// keys version they poll.
    public static func open(config: LucairConfig, logger: Logger) async throws -> (Tenancy, any Storage) {
        let storage = try await StorageFactory.open(url: config.storageURL, logger: logger)
        try await storage.migrate()
        let refresher = KeyRefresher(storage: storage, ring: KeyRing(), plans: config.plans, intervalMs: config.keyRefreshMs, logger: logger)
        return (Tenancy(storage: storage, plans: config.plans, refresher: refresher), storage)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func notFound(_ what: String) -> GatewayError {
        GatewayError(status: 404, type: "invalid_request_error", code: "not_found", message: "No \(what) with that id or name is visible to this key.", origin: .client)
    }

    public func createTenant(name: String, kind: String, plan: String, limits: Limits = Limits()) async throws -> TenantRecord {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw GatewayError.invalid("'name' must be 1–64 letters, digits, '-', '_' or '.'.", param: "name")
        }
        guard ["internal", "external"].contains(kind) else {
            throw GatewayError.invalid("'kind' must be 'internal' (meters only) or 'external' (prepaid wallet).", param: "kind")
        }
        guard plans[plan] != nil else {
            throw GatewayError.invalid("Unknown plan '\(plan)'. Plans: \(plans.keys.sorted().joined(separator: ", ")).", param: "plan")
        }
        let t = TenantRecord(id: APIKeys.randomId("ten"), name: name, kind: kind, plan: plan, limits: limits, createdAtMillis: Self.now())
        do {
            try await storage.createTenant(t)
        } catch let e as StorageError where e.isConflict {
            throw GatewayError(status: 409, type: "invalid_request_error", code: "conflict", param: "name", message: "A tenant named '\(name)' already exists.", origin: .client)
        }
        try await refresher.reload()
        return t
    }

    /// By id or by name.
    public func tenant(_ ref: String) async throws -> TenantRecord {
        if let t = try await storage.tenant(id: ref) { return t }
        if let t = try await storage.tenant(named: ref) { return t }
        throw Self.notFound("tenant")
    }

    public func tenants() async throws -> [TenantRecord] { try await storage.tenants() }

    public func update(tenant ref: String, plan: String?, limits: Limits?) async throws -> TenantRecord {
        let t = try await tenant(ref)
        if let plan, plans[plan] == nil {
            throw GatewayError.invalid("Unknown plan '\(plan)'. Plans: \(plans.keys.sorted().joined(separator: ", ")).", param: "plan")
        }
        try await storage.updateTenant(id: t.id, plan: plan, limits: limits)
        try await refresher.reload()
        return try await tenant(t.id)
    }

    /// Mints a key; the returned string is shown once and never stored.
    public func mintKey(tenant ref: String, name: String, role: String = "tenant", scopes: KeyScopes = KeyScopes(),
                        limits: Limits = Limits(), expiresAtMillis: Int64? = nil, lineageId: String? = nil) async throws -> (key: String, record: APIKeyRecord) {
        let t = try await tenant(ref)
        guard Self.roles.contains(role) else {
            throw GatewayError.invalid("'role' must be one of \(Self.roles.joined(separator: ", ")).", param: "role")
        }
        let key = APIKeys.generate()
        let id = APIKeys.randomId("key")
        let record = APIKeyRecord(id: id, lineageId: lineageId ?? id, tenantId: t.id, hash: APIKeys.hash(key), prefix: APIKeys.displayPrefix(key),
                                  role: role, name: name, scopes: scopes, limits: limits, createdAtMillis: Self.now(), expiresAtMillis: expiresAtMillis)
        try await storage.insertKey(record)
        try await refresher.reload()
        return (key, record)
    }

    public func keys(tenant ref: String) async throws -> [APIKeyRecord] {
        try await storage.keys(tenantId: try await tenant(ref).id)
    }

    /// The newest key of a lineage that belongs to the tenant.
    func lineage(_ lineageId: String, tenant ref: String) async throws -> (TenantRecord, APIKeyRecord) {
        let t = try await tenant(ref)
        let ks = try await storage.keys(tenantId: t.id).filter { $0.lineageId == lineageId || $0.id == lineageId }
        guard let newest = ks.max(by: { $0.createdAtMillis < $1.createdAtMillis }) else { throw Self.notFound("key") }
        return (t, newest)
    }

    /// A new key in the same lineage (same limits, windows and budgets); the old key keeps working
    /// for `graceSeconds`.
    public func rotate(key lineageId: String, tenant ref: String, graceSeconds: Int) async throws -> (key: String, record: APIKeyRecord) {
        let (t, old) = try await lineage(lineageId, tenant: ref)
        guard old.revokedAtMillis == nil else {
            throw GatewayError(status: 409, type: "invalid_request_error", code: "key_revoked", message: "A revoked key cannot be rotated; mint a new one.", origin: .client)
        }
        guard (0...30 * 86400).contains(graceSeconds) else {
            throw GatewayError.invalid("'grace_seconds' must be between 0 and 2592000 (30 days).", param: "grace_seconds")
        }
        let minted = try await mintKey(tenant: t.id, name: old.name, role: old.role, scopes: old.scopes, limits: old.limits,
                                       expiresAtMillis: old.expiresAtMillis, lineageId: old.lineageId)
        let graceEnd = Self.now() + Int64(graceSeconds) * 1000
        for k in try await storage.keys(tenantId: t.id) where k.lineageId == old.lineageId && k.id != minted.record.id && k.isActive(at: Self.now()) {
            try await storage.expireKey(id: k.id, atMillis: min(graceEnd, k.expiresAtMillis ?? graceEnd))
        }
        try await refresher.reload()
        return minted
    }

    public func revoke(key lineageId: String, tenant ref: String) async throws -> APIKeyRecord {
        let (_, newest) = try await lineage(lineageId, tenant: ref)
        try await storage.revokeLineage(newest.lineageId, atMillis: Self.now())
        try await refresher.reload()
        return try await storage.key(id: newest.id) ?? newest
    }

    public func update(key lineageId: String, tenant ref: String, scopes: KeyScopes?, limits: Limits?) async throws -> APIKeyRecord {
        let (_, newest) = try await lineage(lineageId, tenant: ref)
        try await storage.updateLineage(newest.lineageId, scopes: scopes, limits: limits)
        try await refresher.reload()
        return try await storage.key(id: newest.id) ?? newest
    }

    public func usage(tenant ref: String, fromMillis: Int64, toMillis: Int64) async throws -> (TenantRecord, [UsageSummaryRow]) {
        let t = try await tenant(ref)
        return (t, try await storage.usageSummary(tenantId: t.id, fromMillis: fromMillis, toMillis: toMillis))
    }

    /// Usage rows as CSV (chargeback): one line per key, tier and model in the period.
    public static func csv(_ t: TenantRecord, _ rows: [UsageSummaryRow], from: Int64, to: Int64) -> String {
        var out = "tenant_id,tenant_name,from,to,key_id,tier,model,requests,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,cost_nano_usd,cost_usd\n"
        for r in rows {
            out += [t.id, t.name, String(from / 1000), String(to / 1000), r.keyId, r.tier, r.model, String(r.requests), String(r.inputTokens),
                    String(r.cachedInputTokens), String(r.cacheWriteTokens), String(r.outputTokens), String(r.costNano), Money.usdString(r.costNano)]
                .map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
                .joined(separator: ",") + "\n"
        }
        return out
    }
}

/// The JSON the admin API returns (never a key's hash; the key itself only when minted).
public enum TenancyJSON {
    public static func tenant(_ t: TenantRecord, plans: [String: Plan]) -> JSONValue {
        let plan = plans[t.plan]
        return ["object": "tenant", "id": .string(t.id), "name": .string(t.name), "kind": .string(t.kind), "plan": .string(t.plan),
                "ceiling": .string(plan?.ceiling.rawValue ?? "baseline"), "limits": t.limits.json,
                "effective_limits": t.limits.over(plan?.limits ?? Limits()).json, "created_at": .int(t.createdAtMillis / 1000)]
    }

    public static func key(_ k: APIKeyRecord, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> JSONValue {
        let status = k.revokedAtMillis != nil ? "revoked" : (k.expiresAtMillis.map { $0 <= now } ?? false) ? "expired" : "active"
        return ["object": "api_key", "id": .string(k.id), "lineage_id": .string(k.lineageId), "tenant_id": .string(k.tenantId),
                "name": .string(k.name), "role": .string(k.role), "prefix": .string(k.prefix), "status": .string(status),
                "scopes": k.scopes.json, "limits": k.limits.json, "created_at": .int(k.createdAtMillis / 1000),
                "expires_at": k.expiresAtMillis.map { .int($0 / 1000) } ?? nil, "revoked_at": k.revokedAtMillis.map { .int($0 / 1000) } ?? nil]
    }

    /// What the same tokens would have cost served by one model throughout (all-Sonnet, all-Opus…):
    /// the comparison the brief promises each tenant for its own traffic.
    public static func counterfactuals(_ rows: [UsageSummaryRow], prices: PriceTable?, models: [String]) -> JSONValue {
        var out: JSONObject = [:]
        for m in models {
            guard let p = prices?.models[m] else { continue }
            let cost = rows.reduce(Int64(0)) { acc, r in
                acc + p.cost(TokenUsage(input: Int(r.inputTokens), cachedInput: Int(r.cachedInputTokens), cacheWrite: Int(r.cacheWriteTokens), output: Int(r.outputTokens)))
            }
            out[m] = ["cost_nano_usd": .int(cost), "cost_usd": .string(Money.usdString(cost))]
        }
        return .object(out)
    }

    public static func usage(_ t: TenantRecord, _ rows: [UsageSummaryRow], from: Int64, to: Int64) -> JSONValue {
        let total = rows.reduce(Int64(0)) { $0 + $1.costNano }
        return ["object": "usage", "tenant_id": .string(t.id), "tenant_name": .string(t.name), "from": .int(from / 1000), "to": .int(to / 1000),
                "total_cost_nano_usd": .int(total), "total_cost_usd": .string(Money.usdString(total)),
                "data": .array(rows.map { r in
                    ["key_id": .string(r.keyId), "tier": .string(r.tier), "model": .string(r.model), "requests": .int(r.requests),
                     "input_tokens": .int(r.inputTokens), "cached_input_tokens": .int(r.cachedInputTokens),
                     "cache_write_tokens": .int(r.cacheWriteTokens), "output_tokens": .int(r.outputTokens),
                     "cost_nano_usd": .int(r.costNano), "cost_usd": .string(Money.usdString(r.costNano))]
                })]
    }
}
