/// Builds the OpenAI objects Lucair sends: every chunk of one response carries the same id, model
/// and created time whatever the upstream said.
public struct ChunkEnvelope: Sendable {
    public var id: String
    public var model: String
    public var created: Int

    public init(id: String, model: String, created: Int) {
        self.id = id
        self.model = model
        self.created = created
    }

    public func chunk(delta: JSONValue, finishReason: String? = nil) -> JSONValue {
        [
            "id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model),
            "choices": [["index": 0, "delta": delta, "logprobs": nil, "finish_reason": finishReason.map { .string($0) } ?? .null]],
        ]
    }

    /// The trailing chunk sent when the client set `stream_options.include_usage`.
    public func usageChunk(_ usage: TokenUsage, extra: JSONValue? = nil) -> JSONValue {
        var c: JSONValue = [
            "id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model),
            "choices": [], "usage": usage.openAI,
        ]
        if let extra { c["lucair"] = extra }
        return c
    }
}

/// What an upstream stream yields, already in OpenAI's shape.
public enum StreamPiece: Sendable, Equatable {
    case chunk(JSONValue)
    case usage(TokenUsage)
}

/// An error event received in the middle of an upstream stream.
public struct UpstreamStreamError: Error, Sendable, Equatable {
    public var type: String
    public var message: String
    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }
}
