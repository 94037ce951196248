extension ChatRequest {
    /// The request without earlier turns' extended-thinking blocks. Their signatures are bound to the
    /// model that wrote them, and `auto` may serve this turn from another model (docs/router.md).
    /// When the last assistant turn called tools after thinking, Anthropic requires that turn's
    /// thinking block if thinking is on; with the block gone, thinking is turned off for this turn.
    public func strippingThinkingBlocks() -> ChatRequest {
        var out = self
        var midToolLoop = false
        let lastAssistant = messages.lastIndex { $0["role"]?.stringValue == "assistant" }
        out.messages = messages.enumerated().map { i, m in
            guard case .object(var o) = m, let blocks = o["thinking_blocks"] else { return m }
            if i == lastAssistant, !(blocks.arrayValue?.isEmpty ?? true), !(o["tool_calls"]?.arrayValue?.isEmpty ?? true) { midToolLoop = true }
            o["thinking_blocks"] = nil
            return .object(o)
        }
        out.body["messages"] = .array(out.messages)
        if midToolLoop {
            out.body["thinking"] = nil
            out.body["reasoning_effort"] = nil
            out.reasoningEffort = nil
        }
        return out
    }
}
