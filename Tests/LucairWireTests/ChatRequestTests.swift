import Testing
@testable import LucairWire

@Suite struct ChatRequestTests {
    func parse(_ text: String) throws -> ChatRequest { try ChatRequest.parse(try JSON.parse(text)) }

    func rejection(_ text: String) -> InvalidRequest? {
        do {
            _ = try parse(text)
            return nil
        } catch let e as InvalidRequest {
            return e
        } catch {
            return nil
        }
    }

    @Test func acceptsAFullRequest() throws {
        let r = try parse("""
            {"model":"auto","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],
             "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":50,"max_tokens":10,"temperature":0.5,"top_p":1,
             "stop":["a","b"],"seed":7,"user":"u1","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
             "tool_choice":{"type":"function","function":{"name":"f"}},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}}
            """)
        #expect(r.stream && r.includeUsage)
        #expect(r.maxTokens == 50)
        #expect(r.tools.count == 1)
        #expect(r.responseFormat == .jsonSchema(name: "x", schema: ["type": "object"], strict: false))
    }

    @Test(arguments: [
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"auto"}"#, "messages"),
        (#"{"model":"auto","messages":[]}"#, "messages"),
        (#"{"model":"auto","messages":"hi"}"#, "messages"),
        (#"{"model":"auto","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"auto","messages":[{"role":"user"}]}"#, "messages[0].content"),
        (#"{"model":"auto","messages":[{"role":"tool","content":"x"}]}"#, "messages[0].tool_call_id"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"n":2}"#, "n"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#, "stream_options"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}"#, "tool_choice"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}"#, "response_format.type"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"stop":[1]}"#, "stop"),
        (#"{"model":"auto","messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}"#, "reasoning_effort"),
    ])
    func rejectsWithTheParameterToFix(_ body: String, _ param: String) {
        let e = rejection(body)
        #expect(e?.param == param, "\(body)")
        #expect(e?.status == 400)
        #expect((e?.message.count ?? 0) > 10)
    }
}
