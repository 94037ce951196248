/// Anthropic's streamed events → OpenAI chunks.
///
/// `message_start` carries input usage, `message_delta` the authoritative (cumulative) output usage
/// and the stop reason. Tool calls get OpenAI indexes 0, 1, 2… in the order their blocks start,
/// whatever Anthropic's block index. A thinking block is streamed as `reasoning_content` deltas and,
/// once its signature is known, as one `thinking_blocks` delta the client can send back next turn.
public struct AnthropicStreamTranslator: Sendable {
    enum Block: Sendable {
        case text
        case tool(index: Int)
        case jsonTool
        case thinking(text: String, signature: String)
        case redacted
    }

    let envelope: ChunkEnvelope
    var blocks: [Int: Block] = [:]
    var nextToolIndex = 0
    var sawToolCall = false
    var rawUsage: JSONObject = [:]
    var reasoningBytes = 0
    var stopReason: String?
    var started = false

    public init(envelope: ChunkEnvelope) { self.envelope = envelope }

    /// Usage known so far (complete after `message_delta`).
    public var usage: TokenUsage { AnthropicResponse.usage(.object(rawUsage), reasoningBytes: reasoningBytes) }

    public mutating func consume(_ event: SSEEvent) throws(UpstreamStreamError) -> [StreamPiece] {
        guard let data = try? JSON.parse(event.data) else { return [] }
        let type = data["type"]?.stringValue ?? event.event ?? ""
        switch type {
        case "message_start":
            for (k, v) in data["message"]?["usage"]?.objectValue ?? [:] { rawUsage[k] = v }
            started = true
            return [.chunk(envelope.chunk(delta: ["role": "assistant", "content": ""]))]
        case "content_block_start":
            let index = data["index"]?.intValue ?? 0
            let block = data["content_block"] ?? [:]
            switch block["type"]?.stringValue {
            case "tool_use":
                if block["name"]?.stringValue == AnthropicRequest.jsonToolName {
                    blocks[index] = .jsonTool
                    return []
                }
                let ti = nextToolIndex
                nextToolIndex += 1
                sawToolCall = true
                blocks[index] = .tool(index: ti)
                return [.chunk(envelope.chunk(delta: ["tool_calls": [[
                    "index": .int(ti), "id": block["id"] ?? "", "type": "function",
                    "function": ["name": block["name"] ?? "", "arguments": ""],
                ]]]))]
            case "thinking":
                blocks[index] = .thinking(text: "", signature: "")
                return []
            case "redacted_thinking":
                blocks[index] = .redacted
                return [.chunk(envelope.chunk(delta: ["thinking_blocks": [["type": "redacted_thinking", "data": block["data"] ?? ""]]]))]
            default:
                blocks[index] = .text
                if let t = block["text"]?.stringValue, !t.isEmpty {
                    return [.chunk(envelope.chunk(delta: ["content": .string(t)]))]
                }
                return []
            }
        case "content_block_delta":
            let index = data["index"]?.intValue ?? 0
            let delta = data["delta"] ?? [:]
            switch (delta["type"]?.stringValue, blocks[index]) {
            case ("text_delta", _):
                return [.chunk(envelope.chunk(delta: ["content": delta["text"] ?? ""]))]
            case ("input_json_delta", .tool(let ti)?):
                return [.chunk(envelope.chunk(delta: ["tool_calls": [["index": .int(ti), "function": ["arguments": delta["partial_json"] ?? ""]]]]))]
            case ("input_json_delta", .jsonTool?):
                return [.chunk(envelope.chunk(delta: ["content": delta["partial_json"] ?? ""]))]
            case ("thinking_delta", .thinking(let text, let sig)?):
                let t = delta["thinking"]?.stringValue ?? ""
                blocks[index] = .thinking(text: text + t, signature: sig)
                reasoningBytes += t.utf8.count
                return [.chunk(envelope.chunk(delta: ["reasoning_content": .string(t)]))]
            case ("signature_delta", .thinking(let text, let sig)?):
                blocks[index] = .thinking(text: text, signature: sig + (delta["signature"]?.stringValue ?? ""))
                return []
            default:
                return []
            }
        case "content_block_stop":
            let index = data["index"]?.intValue ?? 0
            if case .thinking(let text, let sig)? = blocks[index] {
                return [.chunk(envelope.chunk(delta: ["thinking_blocks": [["type": "thinking", "thinking": .string(text), "signature": .string(sig)]]]))]
            }
            return []
        case "message_delta":
            for (k, v) in data["usage"]?.objectValue ?? [:] where !v.isNull { rawUsage[k] = v }
            if let s = data["delta"]?["stop_reason"]?.stringValue { stopReason = s }
            var finish = AnthropicResponse.finishReason(stopReason)
            if finish == "tool_calls" && !sawToolCall { finish = "stop" }  // the JSON-mode tool
            return [.chunk(envelope.chunk(delta: [:], finishReason: finish))]
        case "message_stop":
            return [.usage(usage)]
        case "error":
            throw UpstreamStreamError(
                type: data["error"]?["type"]?.stringValue ?? "api_error",
                message: data["error"]?["message"]?.stringValue ?? "the upstream stream failed")
        default:  // ping and future event types
            return []
        }
    }
}
