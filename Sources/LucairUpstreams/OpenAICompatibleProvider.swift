import AsyncHTTPClient
import LucairCore
import LucairWire

/// vLLM, llama.cpp, Ollama and anything else that speaks OpenAI's chat completions.
public struct OpenAICompatibleProvider: ChatProvider {
    let http: UpstreamHTTP

    /// `perDeployment`: clients built with a deployment's own timeouts (see UpstreamHTTP).
    public init(client: HTTPClient, perDeployment: [String: HTTPClient] = [:], lean: KeepAliveClient? = nil) {
        http = UpstreamHTTP(client: client, clients: perDeployment, lean: lean)
    }

    func headers(_ d: Deployment) -> [(String, String)] {
        d.apiKey.map { [("authorization", "Bearer \($0)")] } ?? []
    }

    public func complete(_ call: UpstreamCall) async throws -> (JSONValue, TokenUsage?) {
        let d = call.deployment
        let body = OpenAIRelay.upstreamBody(call.request, upstreamModel: d.upstreamModel)
        return OpenAIRelay.completion(try await http.postJSON(url: d.url + "/chat/completions", headers: headers(d), body: body, deployment: d), envelope: call.envelope)
    }

    public func stream(_ call: UpstreamCall) async throws -> UpstreamStream {
        let d = call.deployment
        let body = OpenAIRelay.upstreamBody(call.request, upstreamModel: d.upstreamModel)
        let stream = try await http.stream(url: d.url + "/chat/completions", headers: headers(d), body: body, deployment: d)
        return UpstreamStream(body: stream, decoder: OpenAIStreamDecoder(envelope: call.envelope), deployment: d.name)
    }

    /// `POST /embeddings`, relayed with the deployment's model name.
    public func embeddings(_ body: JSONObject, deployment d: Deployment) async throws -> JSONValue {
        var b = body
        b["model"] = .string(d.upstreamModel)
        return try await http.postJSON(url: d.url + "/embeddings", headers: headers(d), body: .object(b), deployment: d)
    }
}

struct OpenAIStreamDecoder: StreamDecoder {
    let envelope: ChunkEnvelope
    var done = false

    mutating func decode(_ event: SSEEvent) throws -> [StreamPiece] {
        if event.data == "[DONE]" {
            done = true
            return []
        }
        guard let json = try? JSON.parse(event.data) else { return [] }
        if let err = json["error"], err.objectValue != nil {
            throw UpstreamStreamError(type: err["type"]?.stringValue ?? "api_error", message: err["message"]?.stringValue ?? "stream error")
        }
        let (chunk, usage) = OpenAIRelay.chunk(json, envelope: envelope)
        var out: [StreamPiece] = []
        if let chunk { out.append(.chunk(chunk)) }
        if let usage { out.append(.usage(usage)) }
        return out
    }

    func end() throws {
        guard done else { throw UpstreamStreamError(type: "stream_truncated", message: "the stream ended before [DONE]") }
    }
}
