import Foundation
import HTTPTypes
import Hummingbird
import LucairWire
import NIOCore

/// A fake OpenAI-compatible engine (as vLLM / llama.cpp speak it): chat completions with streaming,
/// tools and JSON schema, embeddings, and scripted faults.
struct FakeOpenAI {
    let defaults: FakeScript
    let stats: FakeStats

    func chat(_ body: JSONValue) async throws -> Response {
        stats.saw(openAI: body)
        let messages = body["messages"]?.arrayValue ?? []
        let script = defaults.applying(directiveIn: messages, model: body["model"]?.stringValue)
        if script.latencyMs > 0 { try await Task.sleep(for: .milliseconds(script.latencyMs)) }
        if script.status != 200 {
            var headers: HTTPFields = [.contentType: "application/json"]
            if let r = script.retryAfter { headers[.retryAfter] = String(r) }
            let err: JSONValue = ["error": ["message": .string("scripted failure \(script.status)"), "type": "server_error", "param": nil, "code": nil]]
            return Response(status: .init(code: script.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: err.serialized())))
        }
        let model = body["model"]?.stringValue ?? "fake"
        let id = "chatcmpl-fake\(Int.random(in: 100000...999999))"
        let created = Int(Date().timeIntervalSince1970)
        let prompt = script.inputTokens ?? FakeContent.promptTokens(body["messages"] ?? [])

        // What to answer: tool calls, a tool-result summary, JSON, or text.
        let tools = body["tools"]?.arrayValue ?? []
        let toolChoice = body["tool_choice"]?.stringValue
        var toolCalls: [(id: String, name: String, args: String)] = []
        var text = script.text ?? "Hello from the fake OpenAI-compatible upstream."
        var cycle = script.text == nil
        if let result = FakeContent.lastToolResult(openAI: messages) {
            text = "The tool returned: \(result)"
            cycle = false
        } else if !tools.isEmpty, toolChoice != "none" {
            let chosen = script.parallel ? Array(tools.prefix(2)) : [tools[0]]
            for (i, t) in chosen.enumerated() {
                let args = FakeContent.value(for: t["function"]?["parameters"] ?? ["type": "object"]).jsonString
                toolCalls.append(("call_fake_\(i)_\(Int.random(in: 1000...9999))", t["function"]?["name"]?.stringValue ?? "", args))
            }
        } else if body["response_format"]?["type"]?.stringValue == "json_schema" {
            text = FakeContent.value(for: body["response_format"]?["json_schema"]?["schema"] ?? ["type": "object"]).jsonString
            cycle = false
        } else if body["response_format"]?["type"]?.stringValue == "json_object" {
            text = "{\"answer\":\"example\"}"
            cycle = false
        }
        let pieces = toolCalls.isEmpty ? FakeContent.pieces(text, script.chunks, cycle: cycle) : []
        let completion = script.outputTokens ?? (toolCalls.isEmpty ? pieces.count : toolCalls.count * 8)
        let usage: JSONValue = [
            "prompt_tokens": .int(prompt + script.cacheRead), "completion_tokens": .int(completion),
            "total_tokens": .int(prompt + script.cacheRead + completion),
            "prompt_tokens_details": ["cached_tokens": .int(script.cacheRead)],
        ]
        let finish = toolCalls.isEmpty ? "stop" : "tool_calls"

        guard body["stream"]?.boolValue == true else {
            var message: JSONObject = ["role": "assistant", "content": toolCalls.isEmpty ? .string(pieces.joined()) : nil]
            if !toolCalls.isEmpty {
                message["tool_calls"] = .array(toolCalls.map { ["id": .string($0.id), "type": "function", "function": ["name": .string($0.name), "arguments": .string($0.args)]] })
            }
            var out: JSONValue = [
                "id": .string(id), "object": "chat.completion", "created": .int(created), "model": .string(model),
                "choices": [["index": 0, "message": .object(message), "finish_reason": .string(finish)]],
            ]
            if !script.noUsage { out["usage"] = usage }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: out.serialized())))
        }

        let includeUsage = body["stream_options"]?["include_usage"]?.boolValue == true && !script.noUsage
        func chunk(_ delta: JSONValue, _ finish: String? = nil) -> [UInt8] {
            SSE.data(["id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model),
                      "choices": [["index": 0, "delta": delta, "finish_reason": finish.map { .string($0) } ?? nil]]])
        }
        var frames: [[UInt8]] = [chunk(["role": "assistant", "content": nil])]
        for p in pieces { frames.append(chunk(["content": .string(p)])) }
        for (i, tc) in toolCalls.enumerated() {
            frames.append(chunk(["tool_calls": [["index": .int(i), "id": .string(tc.id), "type": "function", "function": ["name": .string(tc.name), "arguments": ""]]]]))
            let mid = tc.args.index(tc.args.startIndex, offsetBy: tc.args.count / 2)
            frames.append(chunk(["tool_calls": [["index": .int(i), "function": ["arguments": .string(String(tc.args[..<mid]))]]]]))
            frames.append(chunk(["tool_calls": [["index": .int(i), "function": ["arguments": .string(String(tc.args[mid...]))]]]]))
        }
        frames.append(chunk([:], finish))
        if includeUsage {
            frames.append(SSE.data(["id": .string(id), "object": "chat.completion.chunk", "created": .int(created), "model": .string(model), "choices": [], "usage": usage]))
        }
        frames.append(SSE.done)
        // Like vLLM and llama.cpp, the usage chunk and [DONE] follow the finish chunk at once.
        return FakeStream.response(frames: frames, undelayedTail: includeUsage ? 2 : 1, script: script, stats: stats) {
            SSE.data(["error": ["message": "scripted mid-stream failure", "type": "server_error", "code": nil, "param": nil]])
        }
    }

    func embeddings(_ body: JSONValue) -> Response {
        stats.saw(openAI: body)
        let inputs: [String] = body["input"]?.stringValue.map { [$0] } ?? body["input"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let data: [JSONValue] = inputs.enumerated().map { i, text in
            var h = 5381
            for b in text.utf8 { h = (h &* 33 &+ Int(b)) & 0xFFFF }
            return ["object": "embedding", "index": .int(i), "embedding": .array((0..<8).map { .double(Double((h >> $0) & 0xFF) / 255) })]
        }
        let tokens = max(1, inputs.reduce(0) { $0 + $1.utf8.count } / 4)
        let out: JSONValue = ["object": "list", "data": .array(data), "model": body["model"] ?? "fake-embed",
                              "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)]]
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: out.serialized())))
    }
}

/// Writes scripted SSE frames with delays, disconnects and error events, and notes when the client left.
enum FakeStream {
    struct Disconnect: Error {}

    /// `undelayedTail`: the last frames that follow the one before them without the chunk delay.
    static func response(frames: [[UInt8]], undelayedTail: Int = 0, script: FakeScript, stats: FakeStats,
                         errorFrame: @escaping @Sendable () -> [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody { writer in
            if script.together {
                try await writer.write(contentsOf: frames.map { ByteBuffer(bytes: $0) })  // one flush for all
                try await writer.finish(nil)
                return
            }
            for (i, f) in frames.enumerated() {
                do {
                    // The delay comes before a break too, so a break never arrives together with
                    // the last chunk (a client may drop data that shares a read with a reset).
                    let breaks = i >= (script.disconnectAfter ?? .max) || i >= (script.errorAfter ?? .max)
                    if i > 0, script.chunkDelayMs > 0, i < frames.count - undelayedTail || breaks {
                        try await Task.sleep(for: .milliseconds(script.chunkDelayMs))
                    }
                    if let d = script.disconnectAfter, i >= d { break }
                    if let e = script.errorAfter, i >= e {
                        try await writer.write(ByteBuffer(bytes: errorFrame()))
                        break
                    }
                    try await writer.write(ByteBuffer(bytes: f))
                } catch {
                    stats.cancelled()
                    throw error
                }
            }
            if let d = script.disconnectAfter, frames.count > d { throw Disconnect() }
            try await writer.finish(nil)
        })
    }
}
