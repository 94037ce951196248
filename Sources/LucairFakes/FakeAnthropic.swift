import Foundation
import HTTPTypes
import Hummingbird
import LucairWire
import NIOCore

/// A fake Anthropic Messages API: content blocks, tool_use, extended thinking with signatures,
/// cache token usage, the full streaming event sequence, and Anthropic-shaped errors (429, 529 …).
struct FakeAnthropic {
    let defaults: FakeScript
    let stats: FakeStats
    static let errorTypes = [400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                             413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"]

    func error(_ status: Int, _ message: String, retryAfter: Int? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let r = retryAfter { headers[.retryAfter] = String(r) }
        let body: JSONValue = ["type": "error", "error": ["type": .string(Self.errorTypes[status] ?? "api_error"), "message": .string(message)]]
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    func messages(_ body: JSONValue, headers: HTTPFields) async throws -> Response {
        var seen: [String: String] = [:]
        for f in headers { seen[f.name.canonicalName] = f.name.canonicalName == "x-api-key" ? "(set)" : f.value }
        stats.saw(anthropic: body, headers: seen)
        guard let key = headers[HTTPField.Name("x-api-key")!], !key.isEmpty else { return error(401, "invalid x-api-key") }
        guard headers[HTTPField.Name("anthropic-version")!] != nil else { return error(400, "anthropic-version header is required") }
        guard body["max_tokens"]?.intValue != nil else { return error(400, "max_tokens: Field required") }
        guard let messages = body["messages"]?.arrayValue, !messages.isEmpty else { return error(400, "messages: Field required") }
        if body["system"] != nil, body["system"]?.stringValue == nil, body["system"]?.arrayValue == nil { return error(400, "system: invalid") }
        for m in messages where m["role"]?.stringValue == "system" { return error(400, "messages: Unexpected role \"system\"") }

        let script = defaults.applying(directiveIn: messages.map { m in
            // Directives read from user text blocks.
            ["role": m["role"] ?? "user", "content": m["content"] ?? ""]
        }, model: body["model"]?.stringValue)
        if script.latencyMs > 0 { try await Task.sleep(for: .milliseconds(script.latencyMs)) }
        if script.status != 200 { return error(script.status, "scripted failure \(script.status)", retryAfter: script.retryAfter) }

        let model = body["model"]?.stringValue ?? "claude-fake"
        let thinking = body["thinking"]?["type"]?.stringValue == "enabled"
        let tools = body["tools"]?.arrayValue ?? []
        let choice = body["tool_choice"]
        let lastUser = messages.last
        let lastIsToolResult = lastUser?["content"]?.arrayValue?.contains { $0["type"]?.stringValue == "tool_result" } ?? false

        var blocks: [JSONValue] = []
        if thinking {
            let t = "Let me think about this step by step."
            blocks.append(["type": "thinking", "thinking": .string(t), "signature": .string("sig-\(t.utf8.count)-fake")])
        }
        var stop = "end_turn"
        var text = script.text ?? "Hello from the fake Anthropic upstream."
        let forced = choice?["type"]?.stringValue == "tool" ? choice?["name"]?.stringValue : nil
        if lastIsToolResult {
            let result = lastUser?["content"]?.arrayValue?.first { $0["type"]?.stringValue == "tool_result" }
            text = "The tool returned: \(result?["content"]?.stringValue ?? result?["content"]?.jsonString ?? "")"
            blocks.append(["type": "text", "text": .string(text)])
        } else if !tools.isEmpty, choice?["type"]?.stringValue != "none" {
            let chosen = forced.map { name in tools.filter { $0["name"]?.stringValue == name } } ?? (script.parallel ? Array(tools.prefix(2)) : [tools[0]])
            for (i, t) in chosen.enumerated() {
                blocks.append(["type": "tool_use", "id": .string("toolu_fake\(i)\(Int.random(in: 1000...9999))"), "name": t["name"] ?? "",
                               "input": FakeContent.value(for: t["input_schema"] ?? ["type": "object"])])
            }
            stop = "tool_use"
        } else {
            blocks.append(["type": "text", "text": .string(FakeContent.pieces(text, script.chunks, cycle: script.text == nil).joined())])
        }
        let input = script.inputTokens ?? (FakeContent.promptTokens(body["messages"] ?? []) + FakeContent.promptTokens(body["system"] ?? ""))
        let output = script.outputTokens ?? blocks.reduce(0) { $0 + max(1, TokenEstimator.textBytes($1) / 4) }
        let usage: JSONValue = ["input_tokens": .int(input), "output_tokens": .int(output),
                                "cache_read_input_tokens": .int(script.cacheRead), "cache_creation_input_tokens": .int(script.cacheWrite)]
        let id = "msg_fake\(Int.random(in: 100000...999999))"

        guard body["stream"]?.boolValue == true else {
            let out: JSONValue = ["id": .string(id), "type": "message", "role": "assistant", "model": .string(model),
                                  "content": .array(blocks), "stop_reason": .string(stop), "stop_sequence": nil, "usage": usage]
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: out.serialized())))
        }

        var frames: [[UInt8]] = []
        frames.append(SSE.event("message_start", ["type": "message_start", "message": [
            "id": .string(id), "type": "message", "role": "assistant", "model": .string(model), "content": [],
            "stop_reason": nil, "stop_sequence": nil,
            "usage": ["input_tokens": .int(input), "output_tokens": 1, "cache_read_input_tokens": .int(script.cacheRead), "cache_creation_input_tokens": .int(script.cacheWrite)],
        ]]))
        frames.append(SSE.event("ping", ["type": "ping"]))
        for (i, b) in blocks.enumerated() {
            switch b["type"]?.stringValue {
            case "thinking":
                frames.append(SSE.event("content_block_start", ["type": "content_block_start", "index": .int(i), "content_block": ["type": "thinking", "thinking": ""]]))
                frames.append(SSE.event("content_block_delta", ["type": "content_block_delta", "index": .int(i), "delta": ["type": "thinking_delta", "thinking": b["thinking"] ?? ""]]))
                frames.append(SSE.event("content_block_delta", ["type": "content_block_delta", "index": .int(i), "delta": ["type": "signature_delta", "signature": b["signature"] ?? ""]]))
            case "tool_use":
                frames.append(SSE.event("content_block_start", ["type": "content_block_start", "index": .int(i), "content_block": ["type": "tool_use", "id": b["id"] ?? "", "name": b["name"] ?? "", "input": [:]]]))
                let json = (b["input"] ?? [:]).jsonString
                let mid = json.index(json.startIndex, offsetBy: json.count / 2)
                for part in [String(json[..<mid]), String(json[mid...])] {
                    frames.append(SSE.event("content_block_delta", ["type": "content_block_delta", "index": .int(i), "delta": ["type": "input_json_delta", "partial_json": .string(part)]]))
                }
            default:
                frames.append(SSE.event("content_block_start", ["type": "content_block_start", "index": .int(i), "content_block": ["type": "text", "text": ""]]))
                for p in FakeContent.pieces(text, lastIsToolResult ? 1 : script.chunks, cycle: !lastIsToolResult && script.text == nil) {
                    frames.append(SSE.event("content_block_delta", ["type": "content_block_delta", "index": .int(i), "delta": ["type": "text_delta", "text": .string(p)]]))
                }
            }
            frames.append(SSE.event("content_block_stop", ["type": "content_block_stop", "index": .int(i)]))
        }
        frames.append(SSE.event("message_delta", ["type": "message_delta", "delta": ["stop_reason": .string(stop), "stop_sequence": nil],
                                                  "usage": ["output_tokens": .int(output)]]))
        frames.append(SSE.event("message_stop", ["type": "message_stop"]))
        return FakeStream.response(frames: frames, script: script, stats: stats) {
            SSE.event("error", ["type": "error", "error": ["type": "overloaded_error", "message": "Overloaded"]])
        }
    }
}
