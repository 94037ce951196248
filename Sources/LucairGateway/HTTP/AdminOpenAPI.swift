import LucairWire

/// OpenAPI 3.1 description of the admin and tenant self-serve API, served at `/openapi.json`.
/// Tests validate every admin response against the schemas here.
enum AdminOpenAPI {
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static let nullableInt: JSONValue = ["type": ["integer", "null"]]

    static func op(_ summary: String, _ ok: Int, _ schema: String, body: String? = nil, params: [String] = []) -> JSONValue {
        var o: JSONObject = [
            "summary": .string(summary),
            "security": [["bearer": []]],
            "parameters": .array(params.map { ["name": .string($0), "in": "path", "required": true, "schema": ["type": "string"]] }),
            "responses": .object([
                String(ok): ["description": "OK", "content": ["application/json": ["schema": ref(schema)]]],
                "default": ["description": "Error", "content": ["application/json": ["schema": ref("ErrorResponse")]]],
            ]),
        ]
        if let body { o["requestBody"] = ["required": true, "content": ["application/json": ["schema": ref(body)]]] }
        return .object(o)
    }

    static let limits: JSONValue = [
        "type": "object", "additionalProperties": false,
        "properties": ["rpm": nullableInt, "tpm": nullableInt, "max_concurrent": nullableInt,
                       "daily_spend_cap_nano_usd": nullableInt, "monthly_spend_cap_nano_usd": nullableInt],
    ]
    static let scopes: JSONValue = [
        "type": "object", "additionalProperties": false,
        "properties": [
            "endpoints": ["type": "array", "items": ["type": "string", "enum": ["chat.completions", "embeddings", "models", "route", "usage", "admin"]]],
            "tiers": ["type": "array", "items": ["type": "string", "enum": ["baseline", "fast", "balanced", "frontier"]]],
            "models": ["type": "array", "items": ["type": "string"]],
            "ip_allow_list": ["type": "array", "items": ["type": "string"]],
            "quality_bar": ["type": ["number", "null"], "minimum": 0, "maximum": 1],
        ],
    ]
    static let apiKeyProperties: JSONObject = [
        "object": ["const": "api_key"], "id": ["type": "string"], "lineage_id": ["type": "string"], "tenant_id": ["type": "string"],
        "name": ["type": "string"], "role": ["type": "string", "enum": ["operator", "tenant_admin", "tenant"]],
        "prefix": ["type": "string"], "status": ["type": "string", "enum": ["active", "expired", "revoked"]],
        "scopes": ref("Scopes"), "limits": ref("Limits"), "created_at": ["type": "integer"],
        "expires_at": nullableInt, "revoked_at": nullableInt,
    ]
    static let apiKeyRequired: [JSONValue] = ["object", "id", "lineage_id", "tenant_id", "name", "role", "prefix", "status", "scopes", "limits", "created_at", "expires_at", "revoked_at"]

    static let document: JSONValue = [
        "openapi": "3.1.0",
        "info": ["title": "Lucair admin and tenant self-serve API", "version": "1"],
        "components": [
            "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer", "description": "An operator key (every tenant) or a tenant-admin key (its own tenant)."]],
            "schemas": [
                "Limits": limits,
                "Scopes": scopes,
                "Tenant": [
                    "type": "object", "required": ["object", "id", "name", "kind", "plan", "ceiling", "limits", "effective_limits", "created_at"],
                    "properties": [
                        "object": ["const": "tenant"], "id": ["type": "string"], "name": ["type": "string"],
                        "kind": ["type": "string", "enum": ["internal", "external"]], "plan": ["type": "string"],
                        "ceiling": ["type": "string", "enum": ["baseline", "fast", "balanced", "frontier"]],
                        "limits": ref("Limits"), "effective_limits": ref("Limits"), "created_at": ["type": "integer"],
                    ],
                ],
                "TenantList": ["type": "object", "required": ["object", "data"], "properties": ["object": ["const": "list"], "data": ["type": "array", "items": ref("Tenant")]]],
                "CreateTenant": [
                    "type": "object", "required": ["name"],
                    "properties": ["name": ["type": "string"], "kind": ["type": "string", "enum": ["internal", "external"]], "plan": ["type": "string"], "limits": ref("Limits")],
                ],
                "UpdateTenant": ["type": "object", "properties": ["plan": ["type": "string"], "limits": ref("Limits")]],
                "ApiKey": ["type": "object", "required": .array(apiKeyRequired), "properties": .object(apiKeyProperties)],
                "ApiKeyWithSecret": [
                    "type": "object", "required": .array(apiKeyRequired + ["key"]),
                    "properties": .object(apiKeyProperties.merging(["key": ["type": "string", "pattern": "^sk-luc-[0-9A-Za-z]{43}$", "description": "Shown once."]]) { a, _ in a }),
                ],
                "ApiKeyList": ["type": "object", "required": ["object", "data"], "properties": ["object": ["const": "list"], "data": ["type": "array", "items": ref("ApiKey")]]],
                "CreateKey": [
                    "type": "object",
                    "properties": ["name": ["type": "string"], "role": ["type": "string", "enum": ["operator", "tenant_admin", "tenant"]],
                                   "scopes": ref("Scopes"), "limits": ref("Limits"), "expires_at": nullableInt],
                ],
                "UpdateKey": ["type": "object", "properties": ["scopes": ref("Scopes"), "limits": ref("Limits")]],
                "RotateKey": ["type": "object", "properties": ["grace_seconds": ["type": "integer", "minimum": 0, "maximum": 2_592_000]]],
                "Usage": [
                    "type": "object", "required": ["object", "tenant_id", "from", "to", "total_cost_nano_usd", "total_cost_usd", "data"],
                    "properties": [
                        "object": ["const": "usage"], "tenant_id": ["type": "string"], "tenant_name": ["type": "string"], "from": ["type": "integer"], "to": ["type": "integer"],
                        "total_cost_nano_usd": ["type": "integer"], "total_cost_usd": ["type": "string"],
                        "data": ["type": "array", "items": [
                            "type": "object",
                            "required": ["key_id", "tier", "model", "requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "cost_nano_usd", "cost_usd"],
                            "properties": [
                                "key_id": ["type": "string"], "tier": ["type": "string"], "model": ["type": "string"], "requests": ["type": "integer"],
                                "input_tokens": ["type": "integer"], "cached_input_tokens": ["type": "integer"], "cache_write_tokens": ["type": "integer"],
                                "output_tokens": ["type": "integer"], "cost_nano_usd": ["type": "integer"], "cost_usd": ["type": "string"],
                            ],
                        ]],
                    ],
                ],
                "Wallet": [
                    "type": "object", "required": ["object", "tenant_id", "balance_nano", "held_nano", "available_nano", "balance_usd"],
                    "properties": [
                        // Negative after a refund or a dispute of money already spent: requests then fail closed.
                        "object": ["const": "wallet"], "tenant_id": ["type": "string"], "balance_nano": ["type": "integer"],
                        "held_nano": ["type": "integer", "minimum": 0], "available_nano": ["type": "integer", "minimum": 0],
                        "balance_usd": ["type": "string"], "credited": ["type": "boolean"],
                    ],
                ],
                "TopUp": [
                    "type": "object", "required": ["amount_nano", "reference"],
                    "properties": ["amount_nano": ["type": "integer", "minimum": 1], "reference": ["type": "string", "minLength": 1, "maxLength": 128],
                                   "source": ["type": "string"]],
                ],
                "BillingAccount": [
                    "type": "object", "required": ["object", "tenant_id", "customer", "payment_method", "auto_recharge", "wallet"],
                    "properties": [
                        "object": ["const": "billing_account"], "tenant_id": ["type": "string"], "customer": ["type": ["string", "null"]],
                        "payment_method": ["type": ["string", "null"]], "wallet": ref("Wallet"),
                        "auto_recharge": [
                            "type": "object", "required": ["enabled", "threshold_cents", "amount_cents", "monthly_cap_cents", "paused_reason"],
                            "properties": ["enabled": ["type": "boolean"], "threshold_cents": nullableInt, "amount_cents": ["type": "integer"],
                                           "monthly_cap_cents": ["type": "integer"], "paused_reason": ["type": ["string", "null"]]],
                        ],
                        "recharges": ["type": "array", "items": [
                            "type": "object", "required": ["id", "amount_cents", "status"],
                            "properties": ["id": ["type": "string"], "amount_cents": ["type": "integer"], "status": ["enum": ["pending", "succeeded", "failed"]],
                                           "payment_intent": ["type": ["string", "null"]], "error": ["type": ["string", "null"]]],
                        ]],
                    ],
                ],
                "SetPaymentMethod": ["type": "object", "required": ["payment_method"], "properties": ["payment_method": ["type": "string"]]],
                "AutoRecharge": [
                    "type": "object",
                    "properties": ["threshold_cents": nullableInt, "amount_cents": ["type": "integer", "minimum": 1], "monthly_cap_cents": ["type": "integer", "minimum": 1]],
                ],
                "CreateCheckout": [
                    "type": "object", "required": ["amount_cents", "success_url", "cancel_url"],
                    "properties": ["amount_cents": ["type": "integer", "minimum": 1], "success_url": ["type": "string"], "cancel_url": ["type": "string"]],
                ],
                "Checkout": [
                    "type": "object", "required": ["object", "id", "url", "amount_cents", "credited"],
                    "properties": ["object": ["const": "checkout"], "id": ["type": "string"], "url": ["type": "string"], "amount_cents": ["type": "integer"], "credited": ["const": false]],
                ],
                "CreateCardTopUp": [
                    "type": "object", "required": ["amount_cents"],
                    "properties": ["amount_cents": ["type": "integer", "minimum": 1], "payment_method": ["type": "string"]],
                ],
                "CardTopUp": [
                    "type": "object", "required": ["object", "id", "payment_intent", "status", "amount_cents", "credited"],
                    "properties": ["object": ["const": "topup"], "id": ["type": "string"], "payment_intent": ["type": "string"], "status": ["type": "string"],
                                   "amount_cents": ["type": "integer"], "credited": ["const": false], "client_secret": ["type": "string"]],
                ],
                "ErrorResponse": [
                    "type": "object", "required": ["error"],
                    "properties": ["error": [
                        "type": "object", "required": ["message", "type", "param", "code"],
                        "properties": ["message": ["type": "string"], "type": ["type": "string"], "param": ["type": ["string", "null"]], "code": ["type": ["string", "null"]]],
                    ]],
                ],
            ],
        ],
        "paths": [
            "/admin/v1/tenants": [
                "post": op("Create a tenancy (operator)", 201, "Tenant", body: "CreateTenant"),
                "get": op("List the tenancies this key administers", 200, "TenantList"),
            ],
            "/admin/v1/tenants/{tenant}": [
                "get": op("A tenancy, by id or name", 200, "Tenant", params: ["tenant"]),
                "patch": op("Change a tenancy's plan or limits (operator)", 200, "Tenant", body: "UpdateTenant", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/keys": [
                "post": op("Mint a key (the key is in the answer, once)", 201, "ApiKeyWithSecret", body: "CreateKey", params: ["tenant"]),
                "get": op("List a tenancy's keys", 200, "ApiKeyList", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/keys/{key}": [
                "patch": op("Change a key's scopes or limits (all its rotations)", 200, "ApiKey", body: "UpdateKey", params: ["tenant", "key"]),
            ],
            "/admin/v1/tenants/{tenant}/keys/{key}/rotate": [
                "post": op("Rotate a key: a new secret, same limits and budgets; the old one works for grace_seconds (default 3600)", 201, "ApiKeyWithSecret", body: "RotateKey", params: ["tenant", "key"]),
            ],
            "/admin/v1/tenants/{tenant}/keys/{key}/revoke": [
                "post": op("Revoke a key and all its rotations (every replica within about 250 ms)", 200, "ApiKey", params: ["tenant", "key"]),
            ],
            "/admin/v1/tenants/{tenant}/wallet": [
                "get": op("A prepaid wallet: balance, what in-flight requests hold, what is available", 200, "Wallet", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/wallet/topups": [
                "post": op("Credit a wallet (operator), exactly once per reference: 201 when credited, 200 when that reference was already", 201, "Wallet", body: "TopUp", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/billing": [
                "get": op("Card billing: the Stripe customer, saved card, auto-recharge settings and attempts, wallet", 200, "BillingAccount", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/billing/payment_method": [
                "post": op("Save a card (a Stripe PaymentMethod) for top-ups and auto-recharge; un-pauses auto-recharge", 200, "BillingAccount", body: "SetPaymentMethod", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/billing/auto_recharge": [
                "put": op("Auto-recharge: below threshold_cents, charge the saved card amount_cents, at most monthly_cap_cents a month (null threshold: off)", 200, "BillingAccount", body: "AutoRecharge", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/billing/checkout": [
                "post": op("A Stripe Checkout Session for a top-up; the wallet is credited when Stripe confirms the payment", 201, "Checkout", body: "CreateCheckout", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/billing/topups": [
                "post": op("Charge the card now (Idempotency-Key honoured); credited when Stripe's webhook confirms the payment", 201, "CardTopUp", body: "CreateCardTopUp", params: ["tenant"]),
            ],
            "/admin/v1/tenants/{tenant}/usage": [
                "get": op("Usage by key, tier and model for a period (query: from, to as Unix seconds; default the last 30 days)", 200, "Usage", params: ["tenant"]),
            ],
        ],
    ]
}
