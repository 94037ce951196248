import Foundation
import LucairCore
import LucairUpstreams
import LucairWire

/// `POST /v1/embeddings`, free of HTTP: forwarded to a configured local embedding deployment, under
/// the same key scopes, rate limits and metering as chat.
struct EmbeddingsService: Sendable {
    let deployments: [Deployment]
    let provider: OpenAICompatibleProvider
    let meter: Meter

    func embed(_ body: JSONValue, principal: Principal, requestId: String) async throws -> (JSONValue, model: String) {
        guard case .object(let o) = body else { throw GatewayError.invalid("The request body must be a JSON object.") }
        guard let model = o["model"]?.stringValue else {
            throw GatewayError.invalid("Missing required parameter: 'model'.", param: "model", code: "missing_required_parameter")
        }
        guard let input = o["input"], input.stringValue != nil || input.arrayValue != nil else {
            throw GatewayError.invalid("Missing required parameter: 'input' (a string or an array of strings).", param: "input", code: "missing_required_parameter")
        }
        guard !deployments.isEmpty else {
            throw GatewayError(status: 404, type: "invalid_request_error", code: "model_not_found", param: "model",
                               message: "No embedding deployment is configured on this gateway. Operator: add [[embeddings.deployments]].", origin: .client)
        }
        let candidates = deployments.filter { $0.model == model || model == "auto" }
        guard let first = candidates.first else {
            throw GatewayError(status: 404, type: "invalid_request_error", code: "model_not_found", param: "model",
                               message: "The embedding model '\(model)' does not exist. Available: \(deployments.map(\.model).joined(separator: ", ")).", origin: .client)
        }
        guard principal.allows(tier: first.tier, model: first.model) else {
            throw GatewayError(status: 403, type: "invalid_request_error", code: "model_not_allowed", param: "model",
                               message: "This key may not use the embedding model '\(first.model)'; see its scopes.", origin: .client)
        }
        let estimate = TokenEstimator.tokens(bytes: TokenEstimator.textBytes(input))
        var request = Meter.Request(
            endpoint: "embeddings", requestId: requestId, principal: principal, tier: first.tier, model: first.model, stream: false,
            started: .now, createdAtMillis: Int64(Date().timeIntervalSince1970 * 1000),
            admission: try await meter.limiter.admit(principal, estimatedTokens: estimate))
        try meter.hold(&request, inputTokensMax: TokenEstimator.textBytes(input) + 16, outputTokensMax: 0)
        let upstream: JSONValue
        let d: Deployment
        do {
            let lease: DeploymentHealth.Lease
            (upstream, d, lease) = try await meter.firstSuccess(candidates, tier: .baseline, requestId: requestId) { try await provider.embeddings(o, deployment: $0) }
            meter.health.release(lease, .success(latency: .now - lease.started))
        } catch let e as GatewayError {
            meter.finish(request, deployment: first.name, usage: TokenUsage(), status: e.status, errorType: e.code ?? e.type, ttft: nil)
            throw e
        }
        var data: [JSONValue] = []
        for (i, item) in (upstream["data"]?.arrayValue ?? []).enumerated() {
            data.append(["object": "embedding", "index": item["index"] ?? .int(i), "embedding": item["embedding"] ?? []])
        }
        let reported = upstream["usage"]?["prompt_tokens"]?.intValue
        let tokens = reported ?? estimate
        meter.finish(request, deployment: d.name, usage: TokenUsage(input: tokens, estimated: reported == nil), status: 200, errorType: nil, ttft: nil)
        if request.hold != nil { await meter.usage.stored(requestId) }
        return (["object": "list", "data": .array(data), "model": .string(d.model),
                 "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]], d.model)
    }
}
