import Foundation
import HTTPTypes
import Hummingbird
import LucairCore
import LucairStorage
import LucairWire
import NIOCore

/// The admin API (operator keys: every tenant) and the tenant self-serve API (tenant-admin keys:
/// their own tenant), on the same routes. Another tenant's resources answer 404, so a tenant
/// cannot even learn that they exist. Described in `/openapi.json` (AdminOpenAPI.swift).
struct AdminRoutes {
    let routes: Routes
    var tenancy: Tenancy { routes.gateway.tenancy }
    var plans: [String: Plan] { routes.gateway.config.plans }

    func walletJSON(_ tenantId: String) -> JSONValue {
        let (balance, held) = routes.gateway.wallets.balance(tenantId)
        return ["object": "wallet", "tenant_id": .string(tenantId), "balance_nano": .int(balance), "held_nano": .int(held),
                "available_nano": .int(max(0, balance - held)), "balance_usd": .string(Money.usdString(balance))]
    }

    func register(on router: Router<LucairContext>) {
        router.get("/openapi.json") { _, _ in routes.json(AdminOpenAPI.document) }
        let admin = router.group("/admin/v1")
        admin.post("/tenants") { request, context in
            let p = try principal(request, context)
            guard p.isOperator else { throw Self.operatorOnly }
            let body = try await object(request)
            let t = try await tenancy.createTenant(
                name: try str(body, "name", required: true)!, kind: try str(body, "kind") ?? "internal",
                plan: try str(body, "plan") ?? "starter", limits: try limits(body["limits"]))
            return routes.json(TenancyJSON.tenant(t, plans: plans), status: .created)
        }
        admin.get("/tenants") { request, context in
            let p = try principal(request, context)
            let all = try await tenancy.tenants().filter { p.administers(tenantId: $0.id) }
            return routes.json(["object": "list", "data": .array(all.map { TenancyJSON.tenant($0, plans: plans) })])
        }
        admin.get("/tenants/{tenant}") { request, context in
            let t = try await visibleTenant(request, context)
            return routes.json(TenancyJSON.tenant(t, plans: plans))
        }
        admin.patch("/tenants/{tenant}") { request, context in
            let p = try principal(request, context)
            let t = try await visibleTenant(request, context)
            guard p.isOperator else { throw Self.operatorOnly }
            let body = try await object(request)
            let updated = try await tenancy.update(tenant: t.id, plan: try str(body, "plan"), limits: body["limits"] == nil ? nil : try limits(body["limits"]))
            return routes.json(TenancyJSON.tenant(updated, plans: plans))
        }
        // Wallets: operators credit a prepaid wallet (card payments arrive through Stripe later); the
        // tenant's admins read it.
        admin.get("/tenants/{tenant}/wallet") { request, context in
            let t = try await visibleTenant(request, context)
            return routes.json(walletJSON(t.id))
        }
        admin.post("/tenants/{tenant}/wallet/topups") { request, context in
            let p = try principal(request, context)
            let t = try await visibleTenant(request, context)
            guard p.isOperator else { throw Self.operatorOnly }
            let body = try await object(request)
            guard let amount = body["amount_nano"]?.intValue, amount > 0 else {
                throw GatewayError.invalid("'amount_nano' must be a positive integer (nano-USD: $1 = 1000000000).", param: "amount_nano")
            }
            guard let ref = try str(body, "reference", required: true), !ref.isEmpty, ref.count <= 128 else {
                throw GatewayError.invalid("'reference' must be 1–128 characters: the payment's id, used to credit it exactly once.", param: "reference")
            }
            let fresh = try await routes.gateway.storage.topUp(tenantId: t.id, amountNano: Int64(amount), source: try str(body, "source") ?? "manual",
                                                               ref: ref, atMillis: Int64(Date().timeIntervalSince1970 * 1000))
            if fresh { routes.gateway.wallets.credit(t.id, Int64(amount)) }
            var out = walletJSON(t.id)
            out["credited"] = .bool(fresh)
            return routes.json(out, status: fresh ? .created : .ok)
        }
        // Local engines: drain one (no new requests; those in flight finish; traffic spills to the
        // next choice) before maintenance, and return it to service after.
        admin.get("/engines") { request, context in
            guard try principal(request, context).isOperator else { throw Self.operatorOnly }
            return routes.json(["object": "list", "data": .array(routes.gateway.engines.map { routes.gateway.engineJSON($0) })])
        }
        for (verb, draining) in [("drain", true), ("undrain", false)] {
            admin.post("/engines/{engine}/\(verb)") { request, context in
                guard try principal(request, context).isOperator else { throw Self.operatorOnly }
                let name = try context.parameters.require("engine")
                guard let names = routes.gateway.deployments(ofEngine: name), let e = routes.gateway.engines.first(where: { $0.config.name == name }) else {
                    throw GatewayError.invalid("No engine named '\(name)'. Engines: \(routes.gateway.engines.map(\.config.name).joined(separator: ", ")).", code: "engine_not_found", status: 404)
                }
                routes.gateway.health.setDraining(names, draining)
                routes.gateway.logger.notice(draining ? "engine draining" : "engine back in service", metadata: ["engine": "\(name)", "deployments": "\(names)"])
                return routes.json(routes.gateway.engineJSON(e))
            }
        }
        admin.post("/tenants/{tenant}/keys") { request, context in
            let p = try principal(request, context)
            let t = try await visibleTenant(request, context)
            let body = try await object(request)
            let role = try str(body, "role") ?? "tenant"
            if role == "operator", !p.isOperator { throw Self.operatorOnly }
            var expires: Int64?
            if let e = body["expires_at"], !e.isNull {
                guard let secs = e.intValue, secs > Int(Date().timeIntervalSince1970) else {
                    throw GatewayError.invalid("'expires_at' must be a Unix time in the future (seconds).", param: "expires_at")
                }
                expires = Int64(secs) * 1000
            }
            let (key, record) = try await tenancy.mintKey(
                tenant: t.id, name: try str(body, "name") ?? "", role: role, scopes: try scopes(body["scopes"]),
                limits: try limits(body["limits"]), expiresAtMillis: expires)
            var out = TenancyJSON.key(record)
            out["key"] = .string(key)  // shown once
            return routes.json(out, status: .created)
        }
        admin.get("/tenants/{tenant}/keys") { request, context in
            let t = try await visibleTenant(request, context)
            return routes.json(["object": "list", "data": .array(try await tenancy.keys(tenant: t.id).map { TenancyJSON.key($0) })])
        }
        admin.patch("/tenants/{tenant}/keys/{key}") { request, context in
            let t = try await visibleTenant(request, context)
            let body = try await object(request)
            let k = try await tenancy.update(key: try keyParam(context), tenant: t.id,
                                             scopes: body["scopes"] == nil ? nil : try scopes(body["scopes"]),
                                             limits: body["limits"] == nil ? nil : try limits(body["limits"]))
            return routes.json(TenancyJSON.key(k))
        }
        admin.post("/tenants/{tenant}/keys/{key}/rotate") { request, context in
            let t = try await visibleTenant(request, context)
            let body = try await object(request, optional: true)
            let grace = body["grace_seconds"].map { $0.intValue ?? -1 } ?? 3600
            let (key, record) = try await tenancy.rotate(key: try keyParam(context), tenant: t.id, graceSeconds: grace)
            var out = TenancyJSON.key(record)
            out["key"] = .string(key)
            return routes.json(out, status: .created)
        }
        admin.post("/tenants/{tenant}/keys/{key}/revoke") { request, context in
            let t = try await visibleTenant(request, context)
            return routes.json(TenancyJSON.key(try await tenancy.revoke(key: try keyParam(context), tenant: t.id)))
        }
        admin.get("/tenants/{tenant}/usage") { request, context in
            let t = try await visibleTenant(request, context)
            let now = Int64(Date().timeIntervalSince1970)
            func time(_ name: String, _ d: Int64) throws -> Int64 {
                guard let raw = request.uri.queryParameters[Substring(name)] else { return d }
                guard let v = Int64(String(raw)) else { throw GatewayError.invalid("'\(name)' must be a Unix time in seconds.", param: name) }
                return v
            }
            let from = try time("from", now - 30 * 86400) * 1000, to = try time("to", now + 1) * 1000
            let (tenant, rows) = try await tenancy.usage(tenant: t.id, fromMillis: from, toMillis: to)
            return routes.json(TenancyJSON.usage(tenant, rows, from: from, to: to))
        }
    }

    static let operatorOnly = GatewayError(status: 403, type: "invalid_request_error", code: "operator_only",
                                           message: "Only an operator key may do this.", origin: .client)

    func principal(_ request: Request, _ context: LucairContext) throws -> Principal {
        let p = try routes.authenticate(request, context, endpoint: "admin")
        guard p.isOperator || p.role == "tenant_admin" else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "admin_only",
                               message: "This endpoint needs an operator or tenant-admin key.", origin: .client)
        }
        return p
    }

    /// The tenant named in the path, if this key administers it; otherwise 404 (not 403: no leak).
    func visibleTenant(_ request: Request, _ context: LucairContext) async throws -> TenantRecord {
        let p = try principal(request, context)
        let ref = try context.parameters.require("tenant")
        guard let t = try? await tenancy.tenant(ref), p.administers(tenantId: t.id) else { throw Tenancy.notFound("tenant") }
        return t
    }

    func keyParam(_ context: LucairContext) throws -> String { try context.parameters.require("key") }

    func object(_ request: Request, optional: Bool = false) async throws -> JSONObject {
        if optional, request.headers[.contentType] == nil { return [:] }
        guard case .object(let o) = try await routes.jsonBody(request) else {
            throw GatewayError.invalid("The request body must be a JSON object.")
        }
        return o
    }

    func str(_ o: JSONObject, _ k: String, required: Bool = false) throws -> String? {
        guard let v = o[k], !v.isNull else {
            if required { throw GatewayError.invalid("Missing required parameter: '\(k)'.", param: k, code: "missing_required_parameter") }
            return nil
        }
        guard let s = v.stringValue else { throw GatewayError.invalid("'\(k)' must be a string.", param: k, code: "invalid_type") }
        return s
    }

    func limits(_ v: JSONValue?) throws -> Limits {
        do { return try Limits(json: v) } catch { throw GatewayError(error) }
    }

    func scopes(_ v: JSONValue?) throws -> KeyScopes {
        do { return try KeyScopes(json: v) } catch { throw GatewayError(error) }
    }
}
