/// An OpenAI `POST /v1/chat/completions` request, validated.
///
/// The raw body is kept whole (`body`) so that OpenAI-compatible upstreams receive every field the
/// client sent, including ones Lucair does not model; the typed fields are what Lucair itself reads.
public struct ChatRequest: Sendable {
    public var body: JSONObject
    public var model: String
    public var messages: [JSONValue]
    public var stream: Bool
    /// The client asked for the trailing usage chunk (`stream_options.include_usage`).
    public var includeUsage: Bool
    /// `max_completion_tokens`, else `max_tokens`.
    public var maxTokens: Int?
    public var tools: [JSONValue]
    public var reasoningEffort: String?
    public var responseFormat: ResponseFormat

    public enum ResponseFormat: Sendable, Equatable {
        case text
        case jsonObject
        case jsonSchema(name: String, schema: JSONValue, strict: Bool)
    }

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool", "function"]
    static let efforts: Set<String> = ["none", "minimal", "low", "medium", "high", "xhigh"]

    public static func parse(_ json: JSONValue) throws(InvalidRequest) -> ChatRequest {
        guard case .object(let body) = json else {
            throw InvalidRequest("The request body must be a JSON object, got \(json.typeName).")
        }
        let v = Validator(body: body)
        guard let model = try v.string("model", required: true), !model.isEmpty else {
            throw InvalidRequest("You must provide a model parameter: a model id, a tier alias such as 'lucair/fast', or 'auto'.", param: "model")
        }
        guard let rawMessages = body["messages"] else {
            throw InvalidRequest("Missing required parameter: 'messages'.", param: "messages", code: "missing_required_parameter")
        }
        guard case .array(let messages) = rawMessages else {
            throw InvalidRequest("Invalid type for 'messages': expected an array of message objects, but got \(rawMessages.typeName).", param: "messages", code: "invalid_type")
        }
        guard !messages.isEmpty else {
            throw InvalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1.", param: "messages", code: "empty_array")
        }
        for (i, m) in messages.enumerated() { try validateMessage(m, at: i) }

        let stream = try v.bool("stream") ?? false
        var includeUsage = false
        if let so = try v.object("stream_options") {
            guard stream else {
                throw InvalidRequest("The 'stream_options' parameter is only allowed when 'stream' is true.", param: "stream_options")
            }
            if let iu = so["include_usage"] {
                guard case .bool(let b) = iu else {
                    throw InvalidRequest("Invalid type for 'stream_options.include_usage': expected a boolean, but got \(iu.typeName).", param: "stream_options.include_usage", code: "invalid_type")
                }
                includeUsage = b
            }
        }
        _ = try v.number("temperature", range: 0...2)
        _ = try v.number("top_p", range: 0...1)
        _ = try v.number("presence_penalty", range: -2...2)
        _ = try v.number("frequency_penalty", range: -2...2)
        let maxTokens = try v.positiveInt("max_tokens")
        let maxCompletion = try v.positiveInt("max_completion_tokens")
        _ = try v.int("seed")
        _ = try v.string("user")
        _ = try v.bool("parallel_tool_calls")
        _ = try v.bool("logprobs")
        if let n = try v.int("n"), n != 1 {
            throw InvalidRequest("Lucair serves one choice per request: 'n' must be 1 (got \(n)). Send \(n) separate requests instead.", param: "n", code: "unsupported_value")
        }
        if let stop = body["stop"] {
            switch stop {
            case .null, .string: break
            case .array(let a):
                guard a.count <= 4, a.allSatisfy({ $0.stringValue != nil }) else {
                    throw InvalidRequest("Invalid 'stop': expected a string or an array of at most 4 strings.", param: "stop")
                }
            default:
                throw InvalidRequest("Invalid type for 'stop': expected a string or an array of strings, but got \(stop.typeName).", param: "stop", code: "invalid_type")
            }
        }
        let effort = try v.string("reasoning_effort")
        if let effort, !efforts.contains(effort) {
            throw InvalidRequest("Invalid value for 'reasoning_effort': '\(effort)'. Supported values are: \(efforts.sorted().joined(separator: ", ")).", param: "reasoning_effort", code: "invalid_value")
        }
        let tools = try parseTools(body["tools"])
        try validateToolChoice(body["tool_choice"], tools: tools)
        let format = try parseResponseFormat(body["response_format"])

        return ChatRequest(
            body: body, model: model, messages: messages, stream: stream, includeUsage: includeUsage,
            maxTokens: maxCompletion ?? maxTokens, tools: tools, reasoningEffort: effort, responseFormat: format)
    }

    static func validateMessage(_ m: JSONValue, at i: Int) throws(InvalidRequest) {
        let p = "messages[\(i)]"
        guard case .object(let msg) = m else {
            throw InvalidRequest("Invalid type for '\(p)': expected a message object, but got \(m.typeName).", param: p, code: "invalid_type")
        }
        guard let role = msg["role"]?.stringValue else {
            throw InvalidRequest("Missing required parameter: '\(p).role'.", param: "\(p).role", code: "missing_required_parameter")
        }
        guard roles.contains(role) else {
            throw InvalidRequest("Invalid value: '\(role)'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.", param: "\(p).role", code: "invalid_value")
        }
        let content = msg["content"] ?? .null
        switch content {
        case .string: break
        case .null:
            let hasToolCalls = !(msg["tool_calls"]?.arrayValue?.isEmpty ?? true) || msg["function_call"] != nil
            guard role == "assistant", hasToolCalls || msg["thinking_blocks"] != nil else {
                throw InvalidRequest("Missing required parameter: '\(p).content'.", param: "\(p).content", code: "missing_required_parameter")
            }
        case .array(let parts):
            for (k, part) in parts.enumerated() {
                guard let type = part["type"]?.stringValue else {
                    throw InvalidRequest("Missing required parameter: '\(p).content[\(k)].type'.", param: "\(p).content[\(k)].type", code: "missing_required_parameter")
                }
                switch type {
                case "text":
                    guard part["text"]?.stringValue != nil else {
                        throw InvalidRequest("Invalid '\(p).content[\(k)].text': expected a string.", param: "\(p).content[\(k)].text", code: "invalid_type")
                    }
                case "image_url":
                    guard part["image_url"]?["url"]?.stringValue != nil else {
                        throw InvalidRequest("Invalid '\(p).content[\(k)].image_url': expected an object with a 'url' string.", param: "\(p).content[\(k)].image_url", code: "invalid_type")
                    }
                case "input_audio", "file", "refusal": break
                default:
                    throw InvalidRequest("Invalid value: '\(type)'. Supported content part types are 'text', 'image_url', 'input_audio' and 'file'.", param: "\(p).content[\(k)].type", code: "invalid_value")
                }
            }
        default:
            throw InvalidRequest("Invalid type for '\(p).content': expected a string or an array of content parts, but got \(content.typeName).", param: "\(p).content", code: "invalid_type")
        }
        if role == "tool", msg["tool_call_id"]?.stringValue == nil {
            throw InvalidRequest("Missing required parameter: '\(p).tool_call_id'.", param: "\(p).tool_call_id", code: "missing_required_parameter")
        }
        if let calls = msg["tool_calls"], !calls.isNull {
            guard case .array(let a) = calls else {
                throw InvalidRequest("Invalid type for '\(p).tool_calls': expected an array.", param: "\(p).tool_calls", code: "invalid_type")
            }
            for (k, c) in a.enumerated() {
                guard c["id"]?.stringValue != nil, c["function"]?["name"]?.stringValue != nil else {
                    throw InvalidRequest("Invalid '\(p).tool_calls[\(k)]': each tool call needs an 'id' and a 'function.name'.", param: "\(p).tool_calls[\(k)]")
                }
            }
        }
    }

    static func parseTools(_ raw: JSONValue?) throws(InvalidRequest) -> [JSONValue] {
        guard let raw, !raw.isNull else { return [] }
        guard case .array(let tools) = raw else {
            throw InvalidRequest("Invalid type for 'tools': expected an array, but got \(raw.typeName).", param: "tools", code: "invalid_type")
        }
        for (i, t) in tools.enumerated() {
            guard t["type"]?.stringValue == "function" else {
                throw InvalidRequest("Invalid 'tools[\(i)].type': Lucair supports tools of type 'function'.", param: "tools[\(i)].type", code: "invalid_value")
            }
            guard let name = t["function"]?["name"]?.stringValue, !name.isEmpty else {
                throw InvalidRequest("Missing required parameter: 'tools[\(i)].function.name'.", param: "tools[\(i)].function.name", code: "missing_required_parameter")
            }
            if let params = t["function"]?["parameters"], params.objectValue == nil {
                throw InvalidRequest("Invalid type for 'tools[\(i)].function.parameters': expected a JSON Schema object.", param: "tools[\(i)].function.parameters", code: "invalid_type")
            }
        }
        return tools
    }

    static func validateToolChoice(_ raw: JSONValue?, tools: [JSONValue]) throws(InvalidRequest) {
        guard let raw, !raw.isNull else { return }
        switch raw {
        case .string(let s):
            guard ["none", "auto", "required"].contains(s) else {
                throw InvalidRequest("Invalid value for 'tool_choice': '\(s)'. Supported values are 'none', 'auto', 'required' or an object naming a function.", param: "tool_choice", code: "invalid_value")
            }
            if s == "required", tools.isEmpty {
                throw InvalidRequest("'tool_choice' is 'required' but no 'tools' were given.", param: "tool_choice")
            }
        case .object:
            guard let name = raw["function"]?["name"]?.stringValue else {
                throw InvalidRequest("Invalid 'tool_choice': expected {\"type\": \"function\", \"function\": {\"name\": …}}.", param: "tool_choice")
            }
            guard tools.contains(where: { $0["function"]?["name"]?.stringValue == name }) else {
                throw InvalidRequest("'tool_choice' names the function '\(name)', which is not in 'tools'.", param: "tool_choice")
            }
        default:
            throw InvalidRequest("Invalid type for 'tool_choice': expected a string or an object, but got \(raw.typeName).", param: "tool_choice", code: "invalid_type")
        }
    }

    static func parseResponseFormat(_ raw: JSONValue?) throws(InvalidRequest) -> ResponseFormat {
        guard let raw, !raw.isNull else { return .text }
        guard case .object = raw, let type = raw["type"]?.stringValue else {
            throw InvalidRequest("Invalid 'response_format': expected an object with a 'type'.", param: "response_format", code: "invalid_type")
        }
        switch type {
        case "text": return .text
        case "json_object": return .jsonObject
        case "json_schema":
            guard let js = raw["json_schema"], let name = js["name"]?.stringValue else {
                throw InvalidRequest("Missing required parameter: 'response_format.json_schema.name'.", param: "response_format.json_schema", code: "missing_required_parameter")
            }
            let schema = js["schema"] ?? ["type": "object"]
            guard schema.objectValue != nil else {
                throw InvalidRequest("Invalid type for 'response_format.json_schema.schema': expected a JSON Schema object.", param: "response_format.json_schema.schema", code: "invalid_type")
            }
            return .jsonSchema(name: name, schema: schema, strict: js["strict"]?.boolValue ?? false)
        default:
            throw InvalidRequest("Invalid value for 'response_format.type': '\(type)'. Supported values are 'text', 'json_object' and 'json_schema'.", param: "response_format.type", code: "invalid_value")
        }
    }
}

/// Typed reads of optional top-level parameters with OpenAI-style messages.
struct Validator {
    let body: JSONObject

    func present(_ key: String) -> JSONValue? {
        guard let v = body[key], !v.isNull else { return nil }
        return v
    }

    func typeError(_ key: String, _ expected: String, _ got: JSONValue) -> InvalidRequest {
        InvalidRequest("Invalid type for '\(key)': expected \(expected), but got \(got.typeName).", param: key, code: "invalid_type")
    }

    func string(_ key: String, required: Bool = false) throws(InvalidRequest) -> String? {
        guard let v = present(key) else {
            if required { throw InvalidRequest("Missing required parameter: '\(key)'.", param: key, code: "missing_required_parameter") }
            return nil
        }
        guard case .string(let s) = v else { throw typeError(key, "a string", v) }
        return s
    }

    func bool(_ key: String) throws(InvalidRequest) -> Bool? {
        guard let v = present(key) else { return nil }
        guard case .bool(let b) = v else { throw typeError(key, "a boolean", v) }
        return b
    }

    func object(_ key: String) throws(InvalidRequest) -> JSONObject? {
        guard let v = present(key) else { return nil }
        guard case .object(let o) = v else { throw typeError(key, "an object", v) }
        return o
    }

    func number(_ key: String, range: ClosedRange<Double>) throws(InvalidRequest) -> Double? {
        guard let v = present(key) else { return nil }
        guard let d = v.doubleValue else { throw typeError(key, "a number", v) }
        guard range.contains(d) else {
            throw InvalidRequest("Invalid '\(key)': \(d) is out of range. Expected a value between \(range.lowerBound) and \(range.upperBound).", param: key, code: "invalid_value")
        }
        return d
    }

    func int(_ key: String) throws(InvalidRequest) -> Int? {
        guard let v = present(key) else { return nil }
        guard let i = v.intValue else { throw typeError(key, "an integer", v) }
        return i
    }

    func positiveInt(_ key: String) throws(InvalidRequest) -> Int? {
        guard let i = try int(key) else { return nil }
        guard i >= 1 else {
            throw InvalidRequest("Invalid '\(key)': integer below minimum value. Expected a value >= 1, but got \(i) instead.", param: key, code: "integer_below_min_value")
        }
        return i
    }
}
