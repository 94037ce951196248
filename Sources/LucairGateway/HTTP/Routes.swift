import Foundation
import HTTPTypes
import Hummingbird
import LucairCore
import LucairRouter
import LucairUpstreams
import LucairWire
import Metrics
import NIOCore

/// Thin handlers: authenticate, read the body, call the core, write headers.
struct Routes {
    let gateway: Gateway

    func register(on router: Router<LucairContext>) {
        router.get("/health") { _, _ in try await self.health() }
        router.get("/metrics") { _, _ in
            self.gateway.recordStateGauges()
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: self.gateway.metrics.render())))
        }
        router.get("/v1/models") { request, context in
            _ = try self.authenticate(request, context, endpoint: "models")
            return self.json(self.gateway.modelList())
        }
        router.post("/v1/chat/completions") { request, context in try await self.chat(request, context) }
        router.post("/v1/embeddings") { request, context in try await self.embeddings(request, context) }
        router.post("/v1/route") { request, context in try await self.route(request, context) }
        router.get("/v1/usage") { request, context in try await self.usage(request, context) }
        AdminRoutes(routes: self).register(on: router)
        BillingRoutes(admin: AdminRoutes(routes: self)).register(on: router)
    }

    /// The caller's principal, checked against the key's expiry, endpoint scope and IP allow-list.
    func authenticate(_ request: Request, _ context: LucairContext, endpoint: String) throws -> Principal {
        try authenticate(authorization: request.headers[.authorization], path: request.head.path,
                         remoteIP: context.remoteAddress?.ipAddress, endpoint: endpoint)
    }

    /// `remoteIP` is formatted only for a key with an IP allow-list (`KeyScopes.allows(ip:)`).
    func authenticate(authorization: String?, path: String?, remoteIP: @autoclosure () -> String?, endpoint: String) throws -> Principal {
        guard let auth = authorization else { throw GatewayError.missingKey }
        let key = auth.hasPrefix("Bearer ") ? auth.dropFirst(7).drop(while: { $0 == " " }) : auth[...]
        guard let p = gateway.keys.principal(forKey: key) else { throw GatewayError.invalidKey }
        if let exp = p.expiresAtMillis, exp <= Int64(Date().timeIntervalSince1970 * 1000) {
            throw GatewayError(status: 401, type: "invalid_request_error", code: "expired_api_key",
                               message: "This API key has expired. Use its replacement, or ask your tenant admin for a new key.", origin: .client)
        }
        guard p.scopes.allows(endpoint: endpoint) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "endpoint_not_allowed",
                               message: "This API key may not call \(path ?? "this endpoint"). Its scopes allow: \(p.scopes.endpoints.joined(separator: ", ")).", origin: .client)
        }
        guard p.scopes.allows(ip: remoteIP()) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "ip_not_allowed",
                               message: "This API key may not be used from \(remoteIP() ?? "this address"); see its ip_allow_list.", origin: .client)
        }
        return p
    }

    /// Reads and parses a JSON body, with errors that say what to fix.
    func jsonBody(_ request: Request) async throws -> JSONValue {
        try checkJSONContentType(request.headers)
        return try parseJSON(try await request.body.collect(upTo: gateway.config.maxBodyBytes))
    }

    func checkJSONContentType(_ headers: HTTPFields) throws {
        try checkJSONContentType(headers[.contentType])
    }

    /// Compared as ASCII bytes, case-insensitively: no lower-cased copy per request.
    func checkJSONContentType(_ contentType: String?) throws {
        let expected = "application/json".utf8
        guard let type = contentType, type.utf8.count >= expected.count,
              zip(type.utf8, expected).allSatisfy({ $0 == $1 || ($1 >= UInt8(ascii: "a") && $0 == $1 - 0x20) }) else {
            let got = contentType?.lowercased() ?? ""
            throw GatewayError.invalid("Content-Type must be application/json (got '\(got.isEmpty ? "none" : got)').", code: "unsupported_media_type", status: 415)
        }
    }

    func parseJSON(_ buffer: ByteBuffer) throws -> JSONValue {
        do {
            return try JSON.parse(bytes: buffer.readableBytesView)
        } catch {
            throw GatewayError.invalid("We could not parse the JSON body of your request (\(error)). Send valid JSON; see https://platform.openai.com/docs/api-reference.", code: "invalid_json")
        }
    }

    /// Hummingbird's route for chat completions. `ChatFastPath` serves nearly every such request
    /// before it reaches the router; this one takes those pipelined behind another endpoint's.
    func chat(_ request: Request, _ context: LucairContext) async throws -> Response {
        let received = ContinuousClock.now
        let body: ByteBuffer?
        do { body = try await request.body.collect(upTo: gateway.config.maxBodyBytes) } catch let e as HTTPError where e.status == .contentTooLarge { body = nil }
        switch await chatAnswer(ChatHead(request.head), remoteAddress: context.remoteAddress, body: body, received: received) {
        case .whole(let head, let bytes):
            return Response(status: head.status, headers: head.headerFields, body: .init(byteBuffer: bytes))
        case .ok(let lines, let bytes):
            return Response(status: .ok, headers: lines.fields, body: .init(byteBuffer: bytes))
        case .stream(let head, let opened):
            let service = gateway.chat
            return Response(status: head.status, headers: head.headerFields, body: ResponseBody { writer in
                await service.pump(opened) { bytes in try await writer.write(ByteBuffer(bytes: bytes)) }
                try await writer.finish(nil)
            })
        }
    }

    /// The per-request quality bar override, if sent.
    func qualityBar(_ headers: HTTPFields) throws -> Double? {
        try qualityBar(headers[.lucairQualityBar])
    }

    func qualityBar(_ header: String?) throws -> Double? {
        guard let v = header else { return nil }
        guard let d = Double(v.trimmingCharacters(in: .whitespaces)), (0...1).contains(d) else {
            throw GatewayError.invalid("The x-lucair-quality-bar header must be a number between 0 and 1 (got '\(v)').", param: "x-lucair-quality-bar")
        }
        return d
    }

    /// Assess and Route without serving: what `auto` would do with this chat request.
    func route(_ request: Request, _ context: LucairContext) async throws -> Response {
        let principal = try authenticate(request, context, endpoint: "route")
        var body = try await jsonBody(request)
        if body["model"] == nil { body["model"] = "auto" }
        let chat: ChatRequest
        do { chat = try ChatRequest.parse(body) } catch { throw GatewayError(error) }
        guard chat.model == "auto" else {
            throw GatewayError.invalid("POST /v1/route explains model 'auto' only (got '\(chat.model)'); omit model or send \"auto\".", param: "model")
        }
        let (r, explain) = try gateway.chat.route(chat, principal: principal, qualityBar: try qualityBar(request.headers))
        var out = explain.json
        out["object"] = "lucair.route"
        out["model"] = .string(r.model)
        out["deployments"] = .array(r.deployments.map { .string($0.name) })
        var headers: HTTPFields = [.contentType: "application/json"]
        explained(explain, into: &headers)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: out.serialized())))
    }

    /// The caller's tenant's usage in a period, filtered by key, model and tier, with what the same
    /// tokens would have cost on one model throughout.
    func usage(_ request: Request, _ context: LucairContext) async throws -> Response {
        let p = try authenticate(request, context, endpoint: "usage")
        let q = request.uri.queryParameters
        let now = Int64(Date().timeIntervalSince1970)
        func time(_ name: String, _ d: Int64) throws -> Int64 {
            guard let raw = q[Substring(name)] else { return d }
            guard let v = Int64(String(raw)) else { throw GatewayError.invalid("'\(name)' must be a Unix time in seconds.", param: name) }
            return v
        }
        let from = try time("from", now - 30 * 86400) * 1000, to = try time("to", now + 1) * 1000
        var (tenant, rows) = try await gateway.tenancy.usage(tenant: p.tenantId, fromMillis: from, toMillis: to)
        if let k = q["key"] { rows = rows.filter { $0.keyId == String(k) } }
        if let m = q["model"] { rows = rows.filter { $0.model == String(m) } }
        if let t = q["tier"] { rows = rows.filter { $0.tier == String(t) } }
        var out = TenancyJSON.usage(tenant, rows, from: from, to: to)
        out["if_served_by"] = TenancyJSON.counterfactuals(rows, prices: gateway.config.prices.table(onISODate: Clock.isoDate()),
                                                          models: gateway.config.models)
        return json(out)
    }

    func embeddings(_ request: Request, _ context: LucairContext) async throws -> Response {
        let principal = try authenticate(request, context, endpoint: "embeddings")
        let body = try await jsonBody(request)
        let requestId = APIKeys.timeOrderedId("req")
        let (out, model) = try await gateway.embeddings.embed(body, principal: principal, requestId: requestId)
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.lucairRequestId] = requestId
        headers[.lucairModel] = model
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: out.serialized())))
    }

    func health() async throws -> Response {
        json(await gateway.health())
    }

    func json(_ v: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: v.serialized())))
    }

    // The answer's own headers are appended, not set: setting searches the fields each time, and
    // these are new names (no duplicates: `served` leaves tier and reason to `explained` for `auto`).
    func served<H: HeaderSink>(_ s: ServedBy, into h: inout H) {
        h.add(.lucairRequestId, s.requestId)
        h.add(.lucairModel, s.model)
        h.add(.lucairDeployment, s.deployment)
        if let r = s.route {
            explained(r, into: &h)
        } else {
            h.add(.lucairTier, s.tier.rawValue)
            h.add(.lucairRouteReason, s.reason)
        }
        s.rateLimitHeaders.write(into: &h)
    }

    func explained<H: HeaderSink>(_ r: RouteExplain, into h: inout H) {
        h.add(.lucairTier, r.decision.tier.rawValue)
        h.add(.lucairRouteReason, r.decision.reasons.joined(separator: ","))
        h.add(.lucairRouteScore, String(Assessment.round(r.assessment.score)))
        h.add(.lucairRouteConfidence, String(Assessment.round(r.decision.confidence)))
        h.add(.lucairRouteTask, r.assessment.task.rawValue)
        h.add(.lucairRouteReasoning, r.assessment.reasoning.rawValue)
        h.add(.lucairRouteBar, String(r.decision.bar))
        h.add(.lucairRouteP, String(Assessment.round(r.assessment.probability(r.decision.tier))))
        h.add(.lucairRouterVersion, r.routerVersion)
    }

    /// Lucair's own time on a request: from the handler's start to the answer being ready (or the
    /// stream's head), less the time spent waiting on upstreams. Header and histogram.
    func overhead<H: HeaderSink>(since received: ContinuousClock.Instant, upstream: Duration, timer: Metrics.Timer, into h: inout H) {
        let own = max(.zero, ContinuousClock.now - received - upstream)
        h.add(.lucairOverheadMicros, String(own.micros))
        timer.recordNanoseconds(own.micros * 1000)
    }

    func billed<H: HeaderSink>(_ b: Bill, into h: inout H) {
        h.add(.lucairCostUSD, Money.usdString(b.costNano))
        h.add(.lucairCostNano, String(b.costNano))
        h.add(.lucairInputTokens, String(b.usage.inputTokens))
        h.add(.lucairCachedInputTokens, String(b.usage.cachedInputTokens))
        h.add(.lucairCacheWriteTokens, String(b.usage.cacheWriteTokens))
        h.add(.lucairOutputTokens, String(b.usage.outputTokens))
        h.add(.lucairReasoningTokens, String(b.usage.reasoningTokens))
        h.add(.lucairEstimated, b.usage.estimated ? "true" : "false")
    }
}
