import LucairWire

/// How a fake upstream should behave for one request. Defaults come from the server's flags; a
/// request overrides them with a directive anywhere in its last user message:
/// `[fake status=529 retry_after=2 chunks=8 chunk_delay_ms=20 latency_ms=5 disconnect_after=3 error_after=4
///   together=1 no_usage=1 input_tokens=100 output_tokens=20 cache_read=100 cache_write=50 parallel=1 text=hello_world]`.
/// `only=MODEL` applies the directive only to requests for that upstream model (one deployment of
/// several fails while the others answer).
public struct FakeScript: Sendable {
    public var latencyMs = 0
    public var chunks = 4
    public var chunkDelayMs = 0
    public var status = 200
    public var retryAfter: Int?
    /// Close the connection after this many chunks (streaming) without finishing.
    public var disconnectAfter: Int?
    /// Stream: fail with an error event after this many chunks (Anthropic `error` event / OpenAI error chunk).
    public var errorAfter: Int?
    /// Stream: every frame (each its own HTTP chunk) in one socket write, so a client reads them
    /// together; chunk delays, disconnects and error events do not apply.
    public var together = false
    public var noUsage = false
    public var cacheRead = 0
    public var cacheWrite = 0
    /// Call every tool (up to two) instead of only the first.
    public var parallel = false
    public var text: String?
    /// Override the reported token counts.
    public var inputTokens: Int?
    public var outputTokens: Int?

    public init() {}

    public func applying(directiveIn messages: [JSONValue], model: String? = nil) -> FakeScript {
        var s = self
        var only: String?
        guard let last = messages.last(where: { $0["role"]?.stringValue == "user" }) else { return s }
        let text: String
        switch last["content"] ?? .null {
        case .string(let t): text = t
        case .array(let parts): text = parts.compactMap { $0["text"]?.stringValue }.joined(separator: " ")
        default: return s
        }
        guard let open = text.range(of: "[fake "), let close = text[open.upperBound...].firstIndex(of: "]") else { return s }
        for pair in text[open.upperBound..<close].split(separator: " ") {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { continue }
            let v = kv[1]
            switch kv[0] {
            case "latency_ms": s.latencyMs = Int(v) ?? 0
            case "chunks": s.chunks = max(1, Int(v) ?? 1)
            case "chunk_delay_ms": s.chunkDelayMs = Int(v) ?? 0
            case "status": s.status = Int(v) ?? 200
            case "retry_after": s.retryAfter = Int(v)
            case "disconnect_after": s.disconnectAfter = Int(v)
            case "error_after": s.errorAfter = Int(v)
            case "no_usage": s.noUsage = v == "1"
            case "together": s.together = v == "1"
            case "cache_read": s.cacheRead = Int(v) ?? 0
            case "cache_write": s.cacheWrite = Int(v) ?? 0
            case "parallel": s.parallel = v == "1"
            case "input_tokens": s.inputTokens = Int(v)
            case "output_tokens": s.outputTokens = Int(v)
            case "text": s.text = v.replacingOccurrences(of: "_", with: " ")
            case "only": only = v
            default: break
            }
        }
        if let only, only != model { return self }
        return s
    }
}

/// Deterministic content the fakes produce.
enum FakeContent {
    /// The answer text in `n` pieces. With at least `n` words the pieces are contiguous groups that
    /// add up to the text exactly; with fewer, and `cycle` (load tests that want many chunks), the
    /// words repeat; otherwise one piece per word.
    static func pieces(_ text: String, _ n: Int, cycle: Bool = false) -> [String] {
        let words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if n > words.count {
            guard cycle else { return words.enumerated().map { $0.offset == 0 ? $0.element : " " + $0.element } }
            return (0..<n).map { i in (i == 0 ? "" : " ") + words[i % words.count] }
        }
        var out: [String] = []
        for g in 0..<n {
            let lo = g * words.count / n, hi = (g + 1) * words.count / n
            out.append((g == 0 ? "" : " ") + words[lo..<hi].joined(separator: " "))
        }
        return out
    }

    static func promptTokens(_ v: JSONValue) -> Int { max(1, TokenEstimator.textBytes(v) / 4) }

    /// A value that satisfies a JSON Schema (enough of it for tests: object, array, scalars, enum).
    static func value(for schema: JSONValue) -> JSONValue {
        if let e = schema["enum"]?.arrayValue?.first { return e }
        if let c = schema["const"] { return c }
        switch schema["type"]?.stringValue ?? (schema["properties"] != nil ? "object" : "string") {
        case "object":
            var o: JSONObject = [:]
            for (k, v) in schema["properties"]?.objectValue ?? [:] { o[k] = value(for: v) }
            return .object(o)
        case "array": return [value(for: schema["items"] ?? ["type": "string"])]
        case "integer": return 42
        case "number": return .number("1.5")
        case "boolean": return true
        case "null": return nil
        default: return "example"
        }
    }

    /// The tool result in the conversation's last turn, if it ends with one.
    static func lastToolResult(openAI messages: [JSONValue]) -> String? {
        guard let last = messages.last, last["role"]?.stringValue == "tool" else { return nil }
        return last["content"]?.stringValue ?? last["content"]?.jsonString
    }
}
