import HTTPTypes
import NIOCore

/// Where an answer's own `x-lucair-*` and rate-limit headers go: HTTPTypes' fields (Hummingbird's
/// routes, streams) or `HeaderLines` (a whole chat answer on the fast path).
protocol HeaderSink {
    mutating func add(_ name: HTTPField.Name, _ value: String)
    mutating func add(_ name: String, _ value: String)
}

extension HTTPFields: HeaderSink {
    mutating func add(_ name: HTTPField.Name, _ value: String) { append(HTTPField(name: name, value: value)) }
    mutating func add(_ name: String, _ value: String) { if let n = HTTPField.Name(name) { append(HTTPField(name: n, value: value)) } }
}

/// Headers as name and value pairs (a 429's, and tests).
struct HeaderPairs: HeaderSink {
    var pairs: [(String, String)] = []
    mutating func add(_ name: HTTPField.Name, _ value: String) { pairs.append((name.rawName, value)) }
    mutating func add(_ name: String, _ value: String) { pairs.append((name, value)) }
}

/// A whole chat answer's headers, written as HTTP/1 lines (`name: value\r\n`) as they are added;
/// the fast path copies them into the answer's buffer. Building HTTPTypes' fields and then encoding
/// them cost a few percent of the CPU per request, and keeping a list of name and value pairs to
/// write later about one more. Names are Lucair's own; a CR, LF or NUL in a value (none of
/// Lucair's carry one) becomes a space, so no value can end the head early.
struct HeaderLines: HeaderSink, Sendable {
    private(set) var bytes = ByteBufferAllocator().buffer(capacity: 1024)

    init() {}

    init(_ fields: HTTPFields) {
        for f in fields { add(f.name.rawName, f.value) }
    }

    mutating func add(_ name: HTTPField.Name, _ value: String) { add(name.rawName, value) }

    mutating func add(_ name: String, _ value: String) {
        func breaks(_ b: UInt8) -> Bool { b == 13 || b == 10 || b == 0 }
        let safe = value.utf8.contains(where: breaks) ? String(decoding: value.utf8.map { breaks($0) ? 32 : $0 }, as: UTF8.self) : value
        bytes.writeHeaderLine(name, safe)
    }

    /// The same headers as HTTPTypes' fields (Hummingbird's route for pipelined chats).
    var fields: HTTPFields {
        var fields = HTTPFields()
        for line in bytes.readableBytesView.split(separator: UInt8(ascii: "\n")) {
            let l = line.dropLast()  // its CR
            guard let colon = l.firstIndex(of: UInt8(ascii: ":")),
                  let name = HTTPField.Name(String(decoding: l[..<colon], as: UTF8.self)) else { continue }
            fields.append(HTTPField(name: name, value: String(decoding: l[(colon + 2)...], as: UTF8.self)))  // after ": "
        }
        return fields
    }
}
