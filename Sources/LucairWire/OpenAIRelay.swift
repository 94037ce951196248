/// Relaying to and from OpenAI-compatible engines (vLLM, llama.cpp, Ollama): the request goes out
/// almost as the client sent it, and what comes back is normalised to OpenAI's published schema
/// (llama.cpp, for one, omits `logprobs` and `message.refusal`).
public enum OpenAIRelay {
    /// The upstream body: the client's, with the engine's model name, and usage always requested
    /// when streaming (Lucair meters it even when the client does not want to see it).
    public static func upstreamBody(_ request: ChatRequest, upstreamModel: String) -> JSONValue {
        var body = request.body
        body["model"] = .string(upstreamModel)
        body.removeValue(forKey: "lucair")
        if request.stream {
            var so = body["stream_options"]?.objectValue ?? [:]
            so["include_usage"] = true
            body["stream_options"] = .object(so)
        }
        return .object(body)
    }

    /// Normalises a non-streaming `chat.completion`. The upstream's tree is taken apart in place
    /// (each object unique once taken out of its parent: `intoObject`), not copied: copying its objects to
    /// change a member was most of this function's time.
    public static func completion(_ upstream: consuming JSONValue, envelope e: ChunkEnvelope) -> (JSONValue, TokenUsage?) {
        var up = upstream.intoObject()
        var out = JSONObject(minimumCapacity: 8)
        out["id"] = .string(e.id)
        out["object"] = "chat.completion"
        out["created"] = .int(e.created)
        out["model"] = .string(e.model)
        if let fp = up.removeValue(forKey: "system_fingerprint"), !fp.isNull { out["system_fingerprint"] = fp }
        var choices = up.removeValue(forKey: "choices")?.intoArray() ?? []
        for i in choices.indices {
            var choice = choices[i].intoObject()
            choices[i] = .null  // the choice's members are unique now
            var msg = choice.removeValue(forKey: "message")?.intoObject() ?? [:]
            if msg["role"] == nil { msg["role"] = "assistant" }
            if msg["content"] == nil { msg["content"] = .null }
            if msg["refusal"] == nil { msg["refusal"] = .null }
            if let tc = msg["tool_calls"], tc.arrayValue?.isEmpty ?? true { msg.removeValue(forKey: "tool_calls") }
            choice["message"] = .object(msg)
            if choice["index"] == nil { choice["index"] = .int(i) }
            if choice["logprobs"] == nil { choice["logprobs"] = .null }
            if choice["finish_reason"]?.stringValue == nil { choice["finish_reason"] = "stop" }
            choices[i] = .object(choice)
        }
        out["choices"] = .array(choices)
        let usage = TokenUsage(openAI: up["usage"])
        if let usage { out["usage"] = usage.openAI }
        return (.object(out), usage)
    }

    /// Normalises one streamed chunk. Returns the chunk to forward (nil for a usage-only chunk) and
    /// the usage it carried, if any.
    public static func chunk(_ upstream: JSONValue, envelope e: ChunkEnvelope) -> (JSONValue?, TokenUsage?) {
        let usage = TokenUsage(openAI: upstream["usage"])
        let rawChoices = upstream["choices"]?.arrayValue ?? []
        if rawChoices.isEmpty { return (nil, usage) }
        var choices: [JSONValue] = []
        for (i, c) in rawChoices.enumerated() {
            var choice = c.objectValue ?? [:]
            var delta = choice["delta"]?.objectValue ?? [:]
            if delta["content"] == .null, delta["role"] != nil { delta["content"] = "" }
            choice["delta"] = .object(delta)
            choice["index"] = choice["index"] ?? .int(i)
            if choice["finish_reason"] == nil { choice["finish_reason"] = .null }
            choices.append(.object(choice))
        }
        var out: JSONObject = [
            "id": .string(e.id), "object": "chat.completion.chunk", "created": .int(e.created), "model": .string(e.model),
            "choices": .array(choices),
        ]
        if let fp = upstream["system_fingerprint"], !fp.isNull { out["system_fingerprint"] = fp }
        return (.object(out), usage)
    }

    /// Bytes of generated text in a chunk or message (content, reasoning, tool arguments), for
    /// estimating output tokens when the engine reports no usage.
    public static func generatedBytes(_ v: JSONValue) -> Int {
        var n = 0
        for c in v["choices"]?.arrayValue ?? [] {
            let m = c["delta"] ?? c["message"] ?? .null
            n += m["content"]?.stringValue?.utf8.count ?? 0
            n += m["reasoning_content"]?.stringValue?.utf8.count ?? 0
            for tc in m["tool_calls"]?.arrayValue ?? [] {
                n += tc["function"]?["arguments"]?.stringValue?.utf8.count ?? 0
                n += tc["function"]?["name"]?.stringValue?.utf8.count ?? 0
            }
        }
        return n
    }
}
