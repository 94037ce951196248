import AsyncHTTPClient
import LucairCore
import LucairWire

/// Anthropic's Messages API, translated both ways (see LucairWire/Anthropic).
public struct AnthropicProvider: ChatProvider {
    public static let apiVersion = "2023-06-01"
    let http: UpstreamHTTP

    /// `perDeployment`: clients built with a deployment's own timeouts (see UpstreamHTTP).
    public init(client: HTTPClient, perDeployment: [String: HTTPClient] = [:], lean: KeepAliveClient? = nil) {
        http = UpstreamHTTP(client: client, clients: perDeployment, lean: lean)
    }

    func headers(_ d: Deployment) -> [(String, String)] {
        [("x-api-key", d.apiKey ?? ""), ("anthropic-version", Self.apiVersion)]
    }

    public func complete(_ call: UpstreamCall) async throws -> (JSONValue, TokenUsage?) {
        let d = call.deployment
        let body = try build(call)
        return AnthropicResponse.completion(try await http.postJSON(url: d.url + "/v1/messages", headers: headers(d), body: body, deployment: d), envelope: call.envelope)
    }

    public func stream(_ call: UpstreamCall) async throws -> UpstreamStream {
        let d = call.deployment
        let stream = try await http.stream(url: d.url + "/v1/messages", headers: headers(d), body: try build(call), deployment: d)
        return UpstreamStream(body: stream, decoder: AnthropicStreamDecoder(translator: .init(envelope: call.envelope)), deployment: d.name)
    }

    func build(_ call: UpstreamCall) throws -> JSONValue {
        do {
            return try AnthropicRequest.build(call.request, upstreamModel: call.deployment.upstreamModel, defaultMaxTokens: call.deployment.defaultMaxTokens)
        } catch {
            throw GatewayError(error)
        }
    }
}

struct AnthropicStreamDecoder: StreamDecoder {
    var translator: AnthropicStreamTranslator
    var done = false

    mutating func decode(_ event: SSEEvent) throws -> [StreamPiece] {
        let pieces = try translator.consume(event)
        if pieces.contains(where: { if case .usage = $0 { true } else { false } }) { done = true }
        return pieces
    }

    func end() throws {
        guard done else { throw UpstreamStreamError(type: "stream_truncated", message: "the stream ended before message_stop") }
    }
}
