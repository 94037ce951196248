/// Token counts of one call, kept apart the way they are priced.
/// `outputTokens` includes reasoning tokens (both OpenAI and Anthropic bill them as output);
/// `reasoningTokens` is the part of it spent thinking.
public struct TokenUsage: Sendable, Equatable, Hashable {
    public var inputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int
    /// Counted by Lucair because the engine reported none.
    public var estimated: Bool

    public init(input: Int = 0, cachedInput: Int = 0, cacheWrite: Int = 0, output: Int = 0, reasoning: Int = 0, estimated: Bool = false) {
        inputTokens = input
        cachedInputTokens = cachedInput
        cacheWriteTokens = cacheWrite
        outputTokens = output
        reasoningTokens = reasoning
        self.estimated = estimated
    }

    /// All prompt tokens, as OpenAI's `prompt_tokens` counts them.
    public var promptTokens: Int { inputTokens + cachedInputTokens + cacheWriteTokens }

    /// Reads OpenAI's `usage` object (`prompt_tokens` includes `cached_tokens`).
    public init?(openAI u: JSONValue?) {
        guard let u, case .object = u, let prompt = u["prompt_tokens"]?.intValue else { return nil }
        let cached = u["prompt_tokens_details"]?["cached_tokens"]?.intValue ?? 0
        self.init(
            input: max(0, prompt - cached), cachedInput: min(cached, prompt),
            output: u["completion_tokens"]?.intValue ?? 0,
            reasoning: u["completion_tokens_details"]?["reasoning_tokens"]?.intValue ?? 0)
    }

    /// OpenAI's `usage` object's members, written as bytes: the same shape as `openAI` (a test
    /// holds them together), for the answer written on every request.
    public func write(into w: inout JSONWriter) {
        w.field("prompt_tokens", promptTokens)
        w.field("completion_tokens", outputTokens)
        w.field("total_tokens", promptTokens + outputTokens)
        w.object("prompt_tokens_details") { $0.field("cached_tokens", cachedInputTokens) }
        w.object("completion_tokens_details") { $0.field("reasoning_tokens", reasoningTokens) }
    }

    /// OpenAI's `usage` object.
    public var openAI: JSONValue {
        [
            "prompt_tokens": .int(promptTokens),
            "completion_tokens": .int(outputTokens),
            "total_tokens": .int(promptTokens + outputTokens),
            "prompt_tokens_details": ["cached_tokens": .int(cachedInputTokens)],
            "completion_tokens_details": ["reasoning_tokens": .int(reasoningTokens)],
        ]
    }
}

/// Counts tokens when an engine reports none. A tokenizer per model would be exact; lacking one,
/// this uses the common ~4 bytes of UTF-8 per token rule, and every count it makes is marked
/// `estimated` in the usage record.
public enum TokenEstimator {
    public static func tokens(bytes: Int) -> Int { bytes == 0 ? 0 : (bytes + 3) / 4 }

    /// Prompt tokens of a chat request: every string in the messages and tools, plus a few per message.
    public static func promptTokens(_ request: ChatRequest) -> Int { tokens(bytes: promptBytes(request)) }

    /// The bytes behind `promptTokens`. Also an upper bound of the prompt's tokens (a token covers
    /// at least one byte), which is what a prepaid hold charges for.
    public static func promptBytes(_ request: ChatRequest) -> Int {
        var bytes = 0
        for m in request.messages { bytes += textBytes(m) + 12 }
        for t in request.tools { bytes += textBytes(t) }
        return bytes
    }

    public static func textBytes(_ v: JSONValue) -> Int {
        switch v {
        case .string(let s): s.utf8.count
        case .array(let a): a.reduce(0) { $0 + textBytes($1) }
        case .object(let o): o.values.reduce(0) { $0 + textBytes($1) }
        default: 0
        }
    }
}
