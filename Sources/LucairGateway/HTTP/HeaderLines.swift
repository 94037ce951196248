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

/// Headers rendered once as HTTP/1 lines (`name: value\r\n`): the fast path writes them as they are,
/// where building HTTPTypes' fields and then encoding them cost a few percent of the CPU per
/// request. Names are Lucair's own; a CR, LF or NUL in a value (none of Lucair's carry one) becomes
/// a space, so no value can end the head early.
struct HeaderLines: HeaderSink, Sendable {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(1024) }

    mutating func add(_ name: HTTPField.Name, _ value: String) { add(name.rawName, value) }

    mutating func add(_ name: String, _ value: String) {
        bytes.append(contentsOf: name.utf8)
        bytes.append(UInt8(ascii: ":"))
        bytes.append(UInt8(ascii: " "))
        let start = bytes.count
        bytes.append(contentsOf: value.utf8)
        if bytes[start...].contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) {
            for i in start..<bytes.count where bytes[i] == 13 || bytes[i] == 10 || bytes[i] == 0 { bytes[i] = 32 }
        }
        bytes.append(13)
        bytes.append(10)
    }

    /// The same headers as HTTPTypes' fields (Hummingbird's route for pipelined chats).
    var fields: HTTPFields {
        var out = HTTPFields()
        for line in bytes.split(separator: 10) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")),
                  let name = HTTPField.Name(String(decoding: line[..<colon], as: UTF8.self)) else { continue }
            out.append(HTTPField(name: name, value: String(decoding: line[(colon + 2)...].dropLast(), as: UTF8.self)))  // ": " … "\r"
        }
        return out
    }
}
