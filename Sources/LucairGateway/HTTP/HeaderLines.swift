import HTTPTypes

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

/// A whole chat answer's headers as plain name and value pairs, which the fast path writes
/// straight into the answer's buffer (`ByteBuffer.writeHeaderLine`): building HTTPTypes' fields and
/// then encoding them cost a few percent of the CPU per request. Names are Lucair's own; a CR, LF
/// or NUL in a value (none of Lucair's carry one) becomes a space, so no value can end the head early.
struct HeaderLines: HeaderSink, Sendable {
    private(set) var pairs: [(String, String)] = []

    init() { pairs.reserveCapacity(32) }

    mutating func add(_ name: HTTPField.Name, _ value: String) { add(name.rawName, value) }

    mutating func add(_ name: String, _ value: String) {
        func breaks(_ b: UInt8) -> Bool { b == 13 || b == 10 || b == 0 }
        let safe = value.utf8.contains(where: breaks) ? String(decoding: value.utf8.map { breaks($0) ? 32 : $0 }, as: UTF8.self) : value
        pairs.append((name, safe))
    }

    /// The same headers as HTTPTypes' fields (Hummingbird's route for pipelined chats).
    var fields: HTTPFields {
        HTTPFields(pairs.compactMap { name, value in HTTPField.Name(name).map { HTTPField(name: $0, value: value) } })
    }
}
