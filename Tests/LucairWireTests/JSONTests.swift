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

    /// Objects keep their members' order; a repeated key keeps its first place and its last value,
    /// in small objects and in ones large enough to be merged in one hashed pass.
    @Test func objectsKeepOrderAndTheLastOfARepeatedKey() throws {
        let small = try JSON.parse(#"{"z":1,"a":2,"z":3}"#)
        #expect(small.objectValue?.keys == ["z", "a"] && small["z"] == .number("3"))
        #expect(String(decoding: small.serialized(sortingKeys: false), as: UTF8.self) == #"{"z":3,"a":2}"#)
        let keys = (0..<40).map { "k\($0)" }
        let text = "{" + keys.map { "\"\($0)\":0" }.joined(separator: ",") + #","k7":"last","k39":"end"}"#
        let large = try JSON.parse(text)
        #expect(large.objectValue?.keys == keys)
        #expect(large["k7"] == "last" && large["k39"] == "end" && large["k8"] == .number("0"))
        let unique = try JSON.parse("{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}")
        #expect(unique.objectValue?.count == 40 && unique["k0"] == .number("1"))
        // Equality and hashing do not depend on order, as JSON's objects do not.
        let a = try JSON.parse(#"{"x":1,"y":[2,{"p":true,"q":null}]}"#), b = try JSON.parse(#"{"y":[2,{"q":null,"p":true}],"x":1}"#)
        #expect(a == b && a.hashValue == b.hashValue && Set([a, b]).count == 1)
        #expect(a != (try JSON.parse(#"{"x":1,"y":[2,{"p":false,"q":null}]}"#)))
        var o: JSONObject = ["a": 1, "b": 2]
        o["a"] = nil
        o["c"] = 3
        #expect(o.keys == ["b", "c"] && o.removeValue(forKey: "b") == .number("2") && o.count == 1)
    }

    @Test func deepNestingIsRefused() {
        let text = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func serializerEscapesControlCharacters() {
        let v: JSONValue = ["k": .string("a\u{01}b\tc")]
        #expect(v.jsonString == #"{"k":"a\u0001b\tc"}"#)
    }

    /// The writer's bytes are the tree the same members make: commas between members only, nested
    /// objects closed, strings escaped, doubles as `JSONValue.double` writes them.
    @Test func integersAreWrittenAsStringDescribesThem() {
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 99, 100, 1_000_000_007, .max, .min, .max - 1, .min + 1]
        var g = SystemRandomNumberGenerator()
        for _ in 0..<1000 { values.append(Int64.random(in: .min ... .max, using: &g) >> Int64.random(in: 0...62, using: &g)) }
        for v in values {
            var out: [UInt8] = [120]
            JSONValue.writeInteger(v, into: &out)
            #expect(out == [120] + Array(String(v).utf8), "\(v)")
        }
    }

    @Test func writerBytesParseToTheSameTree() throws {
        var w = JSONWriter()
        w.object { w in
            w.field("s", "quote \" and\nline")
            w.object("empty") { _ in }
            w.object("nested") { w in
                w.field("i", 42)
                w.field("n", Int64(-9_000_000_000))
                w.object("deeper") { $0.field("b", false) }
                w.field("d", 0.25)
                w.field("inf", Double.infinity)
            }
            w.field("tree", ["a": [1, nil]] as JSONValue)
        }
        let expected: JSONValue = [
            "s": "quote \" and\nline", "empty": [:],
            "nested": ["i": 42, "n": .number("-9000000000"), "deeper": ["b": false], "d": .number("0.25"), "inf": nil],
            "tree": ["a": [1, nil]],
        ]
        #expect(try JSON.parse(bytes: w.bytes) == expected)
        #expect(JSONWriter.value { $0.field("k", true) } == ["k": true])
    }

    @Test func usageWrittenAsBytesIsTheUsageTree() {
        let u = TokenUsage(input: 120, cachedInput: 30, output: 45, reasoning: 7)
        let written = JSONWriter.value { u.write(into: &$0) }
        #expect(written == u.openAI)
        #expect(written["prompt_tokens"] == 150 && written["total_tokens"] == 195 && written["completion_tokens_details"]?["reasoning_tokens"] == 7)
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

    @Test func bareCarriageReturnsEndLinesEvenAtAPieceBoundary() {
        let wire = Array("data: a\r\rdata: b\r\ndata: c\r\r\n".utf8)
        var whole = SSEParser()
        var bytewise = SSEParser()
        let expected = [SSEEvent(data: "a"), SSEEvent(data: "b\nc")]
        #expect(whole.feed(wire) == expected)
        #expect(wire.flatMap { bytewise.feed([$0]) } == expected)
    }

    @Test func finishDeliversAnUnterminatedEvent() {
        var p = SSEParser()
        #expect(p.feed(Array("data: tail".utf8)).isEmpty)
        #expect(p.finish() == SSEEvent(data: "tail"))
    }
}
