import Testing
@testable import LucairWire

@Suite struct JSONTests {
    @Test func roundTripKeepsNumbersAndUnicode() throws {
        let text = #"{"a":1,"b":-2.50e3,"c":"h\u00e9llo \ud83d\ude00 \"q\" \\ \n","d":[true,false,null],"e":{},"f":123456789012345678901234567890}"#
        let v = try JSON.parse(text)
        #expect(v["a"] == .number("1"))
        #expect(v["b"]?.doubleValue == -2500)
        #expect(v["c"]?.stringValue == "héllo 😀 \"q\" \\ \n")
        #expect(v["f"] == .number("123456789012345678901234567890"))
        let again = try JSON.parse(v.jsonString)
        #expect(again == v)
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "tru", "\"unterminated", "{\"a\":1} x", "01x", "-", "1.", "\"\u{01}\""])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func deepNestingIsRefused() {
        let text = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func serializerEscapesControlCharacters() {
        let v: JSONValue = ["k": .string("a\u{01}b\tc")]
        #expect(v.jsonString == #"{"k":"a\u0001b\tc"}"#)
    }

    @Test func intValueAcceptsIntegralNumbersOnly() {
        #expect(JSONValue.number("3").intValue == 3)
        #expect(JSONValue.number("3.0").intValue == 3)
        #expect(JSONValue.number("3.5").intValue == nil)
        #expect(JSONValue.string("3").intValue == nil)
    }
}

@Suite struct SSETests {
    @Test func parsesEventsSplitAcrossArbitraryPieces() {
        let wire = Array("event: message_start\ndata: {\"a\":1}\n\n: comment\r\ndata: line1\ndata: line2\r\n\r\ndata: [DONE]\n\n".utf8)
        for split in 1..<wire.count {
            var p = SSEParser()
            var events = p.feed(wire[..<split])
            events += p.feed(wire[split...])
            #expect(events == [
                SSEEvent(event: "message_start", data: "{\"a\":1}"),
                SSEEvent(data: "line1\nline2"),
                SSEEvent(data: "[DONE]"),
            ])
        }
    }

    @Test func finishDeliversAnUnterminatedEvent() {
        var p = SSEParser()
        #expect(p.feed(Array("data: tail".utf8)).isEmpty)
        #expect(p.finish() == SSEEvent(data: "tail"))
    }
}
