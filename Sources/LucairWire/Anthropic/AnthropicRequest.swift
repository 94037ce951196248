/// OpenAI chat request → Anthropic Messages request.
///
/// Decisions (documented in docs/anthropic.md):
/// - every `system`/`developer` message, wherever it stands, becomes one block of the top-level `system`;
/// - `tool` messages become `tool_result` blocks of a user turn; consecutive turns of one role merge;
/// - `response_format` json_object / json_schema is served by a forced tool (`lucair_json`) whose
///   input is returned as the message content;
/// - `reasoning_effort` (or the Lucair extension `thinking`, in Anthropic's own shape) enables
///   extended thinking; assistant `thinking_blocks` (signatures included) are sent back verbatim;
/// - `temperature` is clamped to Anthropic's 0…1; `temperature`/`top_p` are dropped while thinking;
///   `seed` has no Anthropic equivalent and is dropped;
/// - prompt caching: `cache_control` on a content part, on a message (its last block) or on a tool
///   is passed to Anthropic as is; only the default 5-minute lifetime is accepted, since the price
///   table has one cache-write price (Anthropic's 1.25x for 5 minutes).
public enum AnthropicRequest {
    public static let jsonToolName = "lucair_json"
    public static let defaultMaxTokens = 4096

    public static func thinkingBudget(effort: String?) -> Int? {
        switch effort {
        case "low": 1024
        case "medium": 4096
        case "high": 16384
        case "xhigh": 32768
        default: nil
        }
    }

    public static func build(_ r: ChatRequest, upstreamModel: String, defaultMaxTokens: Int = defaultMaxTokens) throws(InvalidRequest) -> JSONValue {
        var system: [JSONValue] = []
        var turns: [(role: String, blocks: [JSONValue])] = []

        func append(_ role: String, _ blocks: [JSONValue]) {
            guard !blocks.isEmpty else { return }
            if let last = turns.last, last.role == role {
                turns[turns.count - 1].blocks.append(contentsOf: blocks)
            } else {
                turns.append((role, blocks))
            }
        }

        for (i, m) in r.messages.enumerated() {
            let role = m["role"]?.stringValue ?? "user"
            switch role {
            case "system", "developer":
                for b in try cached(contentBlocks(m["content"], at: i), m, at: i) where b["type"]?.stringValue == "text" { system.append(b) }
            case "user":
                append("user", try cached(contentBlocks(m["content"], at: i), m, at: i))
            case "assistant":
                var blocks: [JSONValue] = []
                for tb in m["thinking_blocks"]?.arrayValue ?? [] {
                    switch tb["type"]?.stringValue {
                    case "thinking":
                        blocks.append(["type": "thinking", "thinking": tb["thinking"] ?? "", "signature": tb["signature"] ?? ""])
                    case "redacted_thinking":
                        blocks.append(["type": "redacted_thinking", "data": tb["data"] ?? ""])
                    default: break
                    }
                }
                blocks.append(contentsOf: try cached(contentBlocks(m["content"], at: i), m, at: i))
                for tc in m["tool_calls"]?.arrayValue ?? [] {
                    let args = tc["function"]?["arguments"]?.stringValue ?? "{}"
                    let input = (try? JSON.parse(args)).flatMap { $0.objectValue != nil ? $0 : nil } ?? [:]
                    blocks.append(["type": "tool_use", "id": tc["id"] ?? "", "name": tc["function"]?["name"] ?? "", "input": input])
                }
                append("assistant", blocks)
            case "tool", "function":
                var result: JSONObject = ["type": "tool_result", "tool_use_id": m["tool_call_id"] ?? ""]
                switch m["content"] ?? .null {
                case .string(let s): result["content"] = .string(s)
                case .array: result["content"] = .array(try contentBlocks(m["content"], at: i))
                default: result["content"] = ""
                }
                append("user", [.object(result)])
            default: break
            }
        }
        // Anthropic wants the conversation to open with a user turn.
        if turns.first?.role == "assistant" { turns.insert(("user", [["type": "text", "text": "."]]), at: 0) }

        var out: JSONObject = [
            "model": .string(upstreamModel),
            "messages": .array(turns.map { ["role": .string($0.role), "content": .array($0.blocks)] }),
        ]
        if !system.isEmpty { out["system"] = .array(system) }

        // Extended thinking.
        var thinking: JSONValue?
        if let t = r.body["thinking"], t.objectValue != nil {
            thinking = t
        } else if let budget = thinkingBudget(effort: r.reasoningEffort) {
            thinking = ["type": "enabled", "budget_tokens": .int(budget)]
        }
        let budget = thinking?["budget_tokens"]?.intValue ?? 0
        let requested = r.maxTokens ?? defaultMaxTokens
        // With thinking on, max_tokens covers thinking plus answer: give the answer its full room.
        out["max_tokens"] = .int(thinking != nil && thinking?["type"]?.stringValue != "disabled" ? budget + requested : requested)
        if let thinking { out["thinking"] = thinking }
        let thinkingOn = thinking != nil && thinking?["type"]?.stringValue != "disabled"

        if !thinkingOn {
            if let t = r.body["temperature"]?.doubleValue { out["temperature"] = .double(min(t, 1)) }
            if let p = r.body["top_p"], !p.isNull { out["top_p"] = p }
        }
        switch r.body["stop"] ?? .null {
        case .string(let s): out["stop_sequences"] = [.string(s)]
        case .array(let a) where !a.isEmpty: out["stop_sequences"] = .array(a)
        default: break
        }
        if let user = r.body["user"]?.stringValue { out["metadata"] = ["user_id": .string(user)] }
        if r.stream { out["stream"] = true }

        // Tools.
        var tools: [JSONValue] = []
        tools.reserveCapacity(r.tools.count)
        for (k, t) in r.tools.enumerated() {
            var tool: JSONObject = [
                "name": t["function"]?["name"] ?? "",
                "input_schema": t["function"]?["parameters"] ?? ["type": "object", "properties": [:]],
            ]
            if let d = t["function"]?["description"], !d.isNull { tool["description"] = d }
            if let c = t["cache_control"], !c.isNull {
                try checkCacheControl(c, param: "tools[\(k)].cache_control")
                tool["cache_control"] = c
            }
            tools.append(.object(tool))
        }
        var toolChoice: JSONValue?
        switch r.body["tool_choice"] ?? .null {
        case .string("none"): toolChoice = ["type": "none"]
        case .string("required"): toolChoice = ["type": "any"]
        case .string("auto"): toolChoice = ["type": "auto"]
        case .object(let o): toolChoice = ["type": "tool", "name": o["function"]?["name"] ?? ""]
        default: break
        }
        let schema: JSONValue? =
            switch r.responseFormat {
            case .text: nil
            case .jsonObject: ["type": "object"]
            case .jsonSchema(_, let s, _): s
            }
        if let schema {
            tools.append(["name": .string(jsonToolName), "description": "Return the answer as this JSON object.", "input_schema": schema])
            if r.tools.isEmpty && !thinkingOn { toolChoice = ["type": "tool", "name": .string(jsonToolName)] }
        }
        if r.body["parallel_tool_calls"]?.boolValue == false, !tools.isEmpty {
            var tc = toolChoice ?? ["type": "auto"]
            tc["disable_parallel_tool_use"] = true
            toolChoice = tc
        }
        if !tools.isEmpty { out["tools"] = .array(tools) }
        if let toolChoice { out["tool_choice"] = toolChoice }
        return .object(out)
    }

    /// OpenAI message content → Anthropic content blocks.
    static func contentBlocks(_ content: JSONValue?, at i: Int) throws(InvalidRequest) -> [JSONValue] {
        switch content ?? .null {
        case .string(let s): return s.isEmpty ? [] : [["type": "text", "text": .string(s)]]
        case .array(let parts):
            var out: [JSONValue] = []
            for (k, p) in parts.enumerated() {
                var block: JSONValue
                switch p["type"]?.stringValue {
                case "text": block = ["type": "text", "text": p["text"] ?? ""]
                case "image_url":
                    let url = p["image_url"]?["url"]?.stringValue ?? ""
                    block = ["type": "image", "source": try imageSource(url, param: "messages[\(i)].content[\(k)].image_url.url")]
                case "refusal": block = ["type": "text", "text": p["refusal"] ?? ""]
                default:
                    throw InvalidRequest("Content parts of type '\(p["type"]?.stringValue ?? "?")' cannot be sent to Anthropic models; use text or image_url.", param: "messages[\(i)].content[\(k)].type", code: "unsupported_value")
                }
                if let c = p["cache_control"], !c.isNull {
                    try checkCacheControl(c, param: "messages[\(i)].content[\(k)].cache_control")
                    block["cache_control"] = c
                }
                out.append(block)
            }
            return out
        default: return []
        }
    }

    /// A message's own `cache_control` marks its last block (a cache breakpoint after this message).
    static func cached(_ blocks: [JSONValue], _ m: JSONValue, at i: Int) throws(InvalidRequest) -> [JSONValue] {
        guard let c = m["cache_control"], !c.isNull, !blocks.isEmpty else { return blocks }
        try checkCacheControl(c, param: "messages[\(i)].cache_control")
        var out = blocks
        out[out.count - 1]["cache_control"] = c
        return out
    }

    /// Anthropic's breakpoint shape, with the lifetime the price table can bill.
    static func checkCacheControl(_ c: JSONValue?, param: String) throws(InvalidRequest) {
        guard let c, c["type"]?.stringValue == "ephemeral" else {
            throw InvalidRequest("cache_control must be {\"type\": \"ephemeral\"} (optionally with \"ttl\": \"5m\").", param: param)
        }
        if let ttl = c["ttl"], ttl != "5m" {
            throw InvalidRequest("Only the 5-minute cache lifetime is supported (got ttl \(ttl.jsonString)): Lucair's price table has one cache-write price, Anthropic's 5-minute one. Omit ttl or send \"5m\".", param: param + ".ttl", code: "unsupported_value")
        }
    }

    /// `data:image/png;base64,…` → base64 source; anything else → URL source.
    static func imageSource(_ url: String, param: String) throws(InvalidRequest) -> JSONValue {
        guard url.hasPrefix("data:") else { return ["type": "url", "url": .string(url)] }
        guard let comma = url.firstIndex(of: ","), url[..<comma].hasSuffix(";base64") else {
            throw InvalidRequest("Image data URLs must be base64: data:<media type>;base64,<data>.", param: param)
        }
        let mediaType = url[url.index(url.startIndex, offsetBy: 5)..<comma].dropLast(";base64".count)
        return ["type": "base64", "media_type": .string(String(mediaType)), "data": .string(String(url[url.index(after: comma)...]))]
    }
}
