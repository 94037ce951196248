import Foundation
import Testing
@testable import LucairWire

/// Golden tests for the OpenAI ⇄ Anthropic translation. Inputs and expected outputs live in Golden/;
/// run with LUCAIR_UPDATE_GOLDEN=1 to rewrite the expected files after a deliberate change (then
/// review the diff: the golden files are the specification).
@Suite struct AnthropicGoldenTests {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    let envelope = ChunkEnvelope(id: "chatcmpl-golden", model: "claude-haiku-4-5", created: 1_700_000_000)

    func read(_ name: String) throws -> String { try String(contentsOf: Self.dir.appendingPathComponent(name), encoding: .utf8) }

    /// Compares with the golden file, pretty-printed one top-level value per line for readable diffs.
    func check(_ actual: [JSONValue], golden name: String) throws {
        let text = actual.map(\.jsonString).joined(separator: "\n") + "\n"
        let url = Self.dir.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["LUCAIR_UPDATE_GOLDEN"] == "1" {
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        #expect(text == expected, "golden \(name) differs")
    }

    @Test func requestWithThinkingToolsImagesAndSystems() throws {
        let req = try ChatRequest.parse(try JSON.parse(read("request_thinking_tools.openai.json")))
        let out = try AnthropicRequest.build(req, upstreamModel: "claude-haiku-4-5")
        try check([out], golden: "request_thinking_tools.anthropic.golden.jsonl")
        // The invariants the golden file shows, asserted so a careless regeneration cannot hide a regression.
        #expect(out["system"]?.arrayValue?.count == 2)
        #expect(out["thinking"]?["budget_tokens"] == 4096)
        #expect(out["max_tokens"]?.intValue == 4096 + 1000)
        #expect(out["temperature"] == nil)  // dropped while thinking
        let turns = out["messages"]?.arrayValue ?? []
        #expect(turns.map { $0["role"]?.stringValue } == ["user", "assistant", "user"])
        let assistant = turns[1]["content"]?.arrayValue ?? []
        #expect(assistant.map { $0["type"]?.stringValue } == ["thinking", "redacted_thinking", "text", "tool_use", "tool_use"])
        #expect(assistant[0]["signature"] == "EqQBCgIYAhIM1gbcDa9GJwZA2b3h")
        #expect(assistant[3]["id"] == "toolu_01A" && assistant[3]["input"]?["city"] == "Paris")
        let results = turns[2]["content"]?.arrayValue ?? []
        #expect(results.prefix(2).map { $0["tool_use_id"]?.stringValue } == ["toolu_01A", "toolu_01B"])
        #expect(results.last?["text"] == "Summarise.")
        #expect(out["tool_choice"] == ["type": "auto", "disable_parallel_tool_use": true])
        #expect(out["stop_sequences"] == ["END"])
        #expect(out["metadata"]?["user_id"] == "user-42")
        let images = turns[0]["content"]?.arrayValue?.filter { $0["type"] == "image" } ?? []
        #expect(images.map { $0["source"]?["type"]?.stringValue } == ["base64", "url"])
        #expect(images.first?["source"]?["media_type"] == "image/png")
    }

    @Test func cacheBreakpointsPassThroughAndOnlyTheBillableLifetimeIsAccepted() throws {
        let body: JSONValue = [
            "model": "claude-haiku-4-5",
            "messages": [
                ["role": "system", "content": [["type": "text", "text": "Long manual…", "cache_control": ["type": "ephemeral"]]]],
                ["role": "user", "content": "First question", "cache_control": ["type": "ephemeral", "ttl": "5m"]],
                ["role": "user", "content": [["type": "text", "text": "a"], ["type": "text", "text": "b"]]],
            ],
            "tools": [["type": "function", "function": ["name": "lookup", "parameters": ["type": "object"]], "cache_control": ["type": "ephemeral"]]],
        ]
        let out = try AnthropicRequest.build(try ChatRequest.parse(body), upstreamModel: "claude-haiku-4-5")
        #expect(out["system"]?.arrayValue?.first?["cache_control"] == ["type": "ephemeral"])
        let user = out["messages"]?.arrayValue?.first?["content"]?.arrayValue ?? []
        #expect(user.map { $0["cache_control"] } == [["type": "ephemeral", "ttl": "5m"], nil, nil])  // the message's own, on its last block
        #expect(out["tools"]?.arrayValue?.first?["cache_control"] == ["type": "ephemeral"])
        var hour = body
        hour["messages"] = [["role": "user", "content": [["type": "text", "text": "x", "cache_control": ["type": "ephemeral", "ttl": "1h"]]]]]
        #expect(throws: InvalidRequest.self) { try AnthropicRequest.build(try ChatRequest.parse(hour), upstreamModel: "claude-haiku-4-5") }
        do {
            _ = try AnthropicRequest.build(try ChatRequest.parse(hour), upstreamModel: "claude-haiku-4-5")
        } catch {
            #expect(error.param == "messages[0].content[0].cache_control.ttl")
        }
    }

    @Test func jsonSchemaBecomesAForcedTool() throws {
        let req = try ChatRequest.parse(try JSON.parse(read("request_json_schema.openai.json")))
        let out = try AnthropicRequest.build(req, upstreamModel: "claude-haiku-4-5")
        try check([out], golden: "request_json_schema.anthropic.golden.jsonl")
        #expect(out["tool_choice"] == ["type": "tool", "name": .string(AnthropicRequest.jsonToolName)])
        #expect(out["max_tokens"]?.intValue == AnthropicRequest.defaultMaxTokens)
    }

    @Test func streamWithThinkingToolsAndCache() throws {
        var parser = SSEParser()
        var translator = AnthropicStreamTranslator(envelope: envelope)
        var pieces: [JSONValue] = []
        for e in parser.feed(Array(try read("stream_thinking_tools.anthropic.sse").utf8)) {
            for p in try translator.consume(e) {
                switch p {
                case .chunk(let c): pieces.append(c)
                case .usage(let u): pieces.append(["usage": u.openAI, "cache_write_tokens": .int(u.cacheWriteTokens), "input_tokens": .int(u.inputTokens)])
                }
            }
        }
        try check(pieces, golden: "stream_thinking_tools.openai.golden.jsonl")
        let toolStarts = pieces.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["tool_calls"]?.arrayValue?.first }.filter { $0["id"] != nil }
        #expect(toolStarts.map { $0["index"]?.intValue } == [0, 1])
        #expect(toolStarts.map { $0["id"]?.stringValue } == ["toolu_01A", "toolu_01B"])
        let u = translator.usage
        #expect((u.inputTokens, u.cachedInputTokens, u.cacheWriteTokens, u.outputTokens) == (25, 3000, 1200, 89))
        let finish = pieces.compactMap { $0["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue }
        #expect(finish == ["tool_calls"])
        let blocks = pieces.compactMap { $0["choices"]?.arrayValue?.first?["delta"]?["thinking_blocks"] }
        #expect(blocks == [[["type": "thinking", "thinking": "Need weather for two cities.", "signature": "EqQBCgIYAhIM"]]])
    }

    @Test func responseWithCacheTokensThinkingAndToolUse() throws {
        let (out, usage) = AnthropicResponse.completion(try JSON.parse(read("response_cache.anthropic.json")), envelope: envelope)
        try check([out], golden: "response_cache.openai.golden.jsonl")
        #expect((usage.inputTokens, usage.cachedInputTokens, usage.cacheWriteTokens, usage.outputTokens) == (10, 4096, 2048, 30))
        #expect(out["usage"]?["prompt_tokens"]?.intValue == 10 + 4096 + 2048)
        #expect(out["usage"]?["prompt_tokens_details"]?["cached_tokens"] == 4096)
        let msg = out["choices"]?.arrayValue?.first?["message"]
        #expect(msg?["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == #"{"n":2,"q":"x"}"#)
        #expect(msg?["thinking_blocks"]?.arrayValue?.first?["signature"] == "sigA")
        #expect(out["choices"]?.arrayValue?.first?["finish_reason"] == "tool_calls")
    }

    @Test func streamErrorEventThrows() throws {
        var t = AnthropicStreamTranslator(envelope: envelope)
        #expect(throws: UpstreamStreamError.self) {
            _ = try t.consume(SSEEvent(event: "error", data: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        }
    }

    /// A thinking turn returned by Lucair goes back to Anthropic unchanged on the next turn.
    @Test func thinkingBlocksRoundTripAcrossTurns() throws {
        let (first, _) = AnthropicResponse.completion(try JSON.parse(read("response_cache.anthropic.json")), envelope: envelope)
        var assistant = first["choices"]!.arrayValue![0]["message"]!
        assistant["refusal"] = nil
        let next: JSONValue = ["model": "x", "messages": [
            ["role": "user", "content": "hi"], assistant,
            ["role": "tool", "tool_call_id": "toolu_9", "content": "found"],
        ]]
        let out = try AnthropicRequest.build(try ChatRequest.parse(next), upstreamModel: "m")
        let blocks = out["messages"]?.arrayValue?[1]["content"]?.arrayValue ?? []
        #expect(blocks.first == ["type": "thinking", "thinking": "Short.", "signature": "sigA"])
        #expect(blocks.last?["type"] == "tool_use" && blocks.last?["id"] == "toolu_9")
    }
}
