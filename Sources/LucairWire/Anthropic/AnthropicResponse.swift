/// Anthropic Messages response → OpenAI `chat.completion`.
public enum AnthropicResponse {
    public static func finishReason(_ stopReason: String?) -> String {
        switch stopReason {
        case "max_tokens", "model_context_window_exceeded": "length"
        case "tool_use": "tool_calls"
        case "refusal": "content_filter"
        default: "stop"  // end_turn, stop_sequence, pause_turn
        }
    }

    /// Anthropic `usage` → token counts. `input_tokens` excludes cache reads and writes.
    public static func usage(_ u: JSONValue?, reasoningBytes: Int = 0) -> TokenUsage {
        TokenUsage(
            input: u?["input_tokens"]?.intValue ?? 0,
            cachedInput: u?["cache_read_input_tokens"]?.intValue ?? 0,
            cacheWrite: u?["cache_creation_input_tokens"]?.intValue ?? 0,
            output: u?["output_tokens"]?.intValue ?? 0,
            // Anthropic bills thinking inside output_tokens without a separate count: estimate it.
            reasoning: TokenEstimator.tokens(bytes: reasoningBytes))
    }

    public static func completion(_ msg: JSONValue, envelope e: ChunkEnvelope) -> (JSONValue, TokenUsage) {
        var text = ""
        var reasoning = ""
        var thinkingBlocks: [JSONValue] = []
        var toolCalls: [JSONValue] = []
        var jsonAnswer = false
        for b in msg["content"]?.arrayValue ?? [] {
            switch b["type"]?.stringValue {
            case "text": text += b["text"]?.stringValue ?? ""
            case "thinking":
                reasoning += b["thinking"]?.stringValue ?? ""
                thinkingBlocks.append(["type": "thinking", "thinking": b["thinking"] ?? "", "signature": b["signature"] ?? ""])
            case "redacted_thinking":
                thinkingBlocks.append(["type": "redacted_thinking", "data": b["data"] ?? ""])
            case "tool_use":
                let input = b["input"] ?? [:]
                if b["name"]?.stringValue == AnthropicRequest.jsonToolName {
                    text += input.jsonString
                    jsonAnswer = true
                } else {
                    toolCalls.append([
                        "id": b["id"] ?? "", "type": "function",
                        "function": ["name": b["name"] ?? "", "arguments": .string(input.jsonString)],
                    ])
                }
            default: break
            }
        }
        var message: JSONObject = [
            "role": "assistant", "content": text.isEmpty && !toolCalls.isEmpty ? .null : .string(text), "refusal": nil,
        ]
        if !toolCalls.isEmpty { message["tool_calls"] = .array(toolCalls) }
        if !reasoning.isEmpty { message["reasoning_content"] = .string(reasoning) }
        if !thinkingBlocks.isEmpty { message["thinking_blocks"] = .array(thinkingBlocks) }
        var finish = finishReason(msg["stop_reason"]?.stringValue)
        if jsonAnswer && toolCalls.isEmpty && finish == "tool_calls" { finish = "stop" }
        let usage = usage(msg["usage"], reasoningBytes: reasoning.utf8.count)
        let out: JSONValue = [
            "id": .string(e.id), "object": "chat.completion", "created": .int(e.created), "model": .string(e.model),
            "choices": [["index": 0, "message": .object(message), "logprobs": nil, "finish_reason": .string(finish)]],
            "usage": usage.openAI,
        ]
        return (out, usage)
    }
}
