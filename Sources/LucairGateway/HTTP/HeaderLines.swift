import HTTPTypes
import NIOCore

/// Where an answer's own `x-lucair-*` and rate-limit headers go: HTTPTypes' fields (Hummingbird's
/// routes, streams) or `HeaderLines` (a whole chat answer on the fast path).
protocol HeaderSink {
    mutating func add(_ name: HTTPField.Name, _ value: String)
    mutating func add(_ name: String, _ value: String)
    mutating func add(_ name: String, _ value: Int64)
}

extension HeaderSink {
    mutating func add(_ name: HTTPField.Name, _ value: Int64) { add(name.rawName, value) }
    mutating func add(_ name: HTTPField.Name, _ value: Int) { add(name.rawName, Int64(value)) }
    mutating func add(_ name: String, _ value: Int) { add(name, Int64(value)) }
}

extension HTTPFields: HeaderSink {
    mutating func add(_ name: HTTPField.Name, _ value: String) { append(HTTPField(name: name, value: value)) }
    mutating func add(_ name: String, _ value: String) { if let n = HTTPField.Name(name) { append(HTTPField(name: n, value: value)) } }
    mutating func add(_ name: String, _ value: Int64) { add(name, String(value)) }
}

/// A whole chat answer's headers, written as HTTP/1 lines (`name: value\r\n`) as they are added;
/// the fast path copies them into the answer's buffer. Building HTTPTypes' fields and then encoding
/// them cost a few percent of the CPU per request, and a list of name and value strings still about
/// one. Names are Lucair's own; a CR, LF or NUL in a value (none of Lucair's carry one) becomes a
/// space, so no value can end the head early.
struct HeaderLines: HeaderSink, Sendable {
    private(set) var bytes = ByteBufferAllocator().buffer(capacity: 1024)

    init() {}

    init(_ fields: HTTPFields) {
        for f in fields { add(f.name.rawName, f.value) }
    }

    mutating func add(_ name: HTTPField.Name, _ value: String) { add(name.rawName, value) }

    mutating func add(_ name: String, _ value: String) {
        func breaks(_ b: UInt8) -> Bool { b == 13 || b == 10 || b == 0 }
        bytes.writeString(name)
        bytes.writeStaticString(": ")
        if value.utf8.contains(where: breaks) { bytes.writeBytes(value.utf8.map { breaks($0) ? 32 : $0 }) } else { bytes.writeString(value) }
        bytes.writeStaticString("\r\n")
    }

    /// An integer's digits, without a string in between.
    mutating func add(_ name: String, _ value: Int64) {
        bytes.writeString(name)
        bytes.writeStaticString(": ")
        if value < 0 { bytes.writeStaticString("-") }
        var u = value.magnitude, count = 1
        while u >= 10 { u /= 10; count += 1 }
        let start = bytes.writerIndex
        bytes.writeRepeatingByte(UInt8(ascii: "0"), count: count)
        u = value.magnitude
        for i in stride(from: start + count - 1, through: start, by: -1) {
            bytes.setInteger(UInt8(ascii: "0") + UInt8(u % 10), at: i)
            u /= 10
        }
        bytes.writeStaticString("\r\n")
    }

    /// The same headers as HTTPTypes' fields (Hummingbird's route for pipelined chats).
    var fields: HTTPFields {
        var fields = HTTPFields()
        for line in String(buffer: bytes).split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else { continue }
            fields.append(HTTPField(name: name, value: String(line[line.index(colon, offsetBy: 2)...])))
        }
        return fields
    }
}

extension RateLimiter.RateLimitHeaders {
    func write<H: HeaderSink>(into h: inout H) {
        if let r = requests {
            h.add("x-ratelimit-limit-requests", r.limit)
            h.add("x-ratelimit-remaining-requests", r.remaining)
            h.add("x-ratelimit-reset-requests", "\(resetSeconds)s")
        }
        if let t = tokens {
            h.add("x-ratelimit-limit-tokens", t.limit)
            h.add("x-ratelimit-remaining-tokens", t.remaining)
            h.add("x-ratelimit-reset-tokens", "\(resetSeconds)s")
        }
    }
}
