/// Server-sent events: an incremental parser (bytes arrive in arbitrary pieces) and the encoder.
///
/// Written here: the listed EventSource package parses inside a URLSession client, not over the
/// AsyncHTTPClient byte stream the upstreams use.
public struct SSEEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public init(event: String? = nil, data: String) {
        self.event = event
        self.data = data
    }
}

public struct SSEParser: Sendable {
    private var line: [UInt8] = []
    private var event: String?
    private var data: [UInt8] = []
    private var hasData = false
    private var lastWasCR = false

    public init() {}

    /// Feeds bytes; returns the events completed by them.
    public mutating func feed<C: Sequence<UInt8>>(_ bytes: C) -> [SSEEvent] {
        // One call through the generic, then spans: byte by byte across a module boundary the
        // generic was unspecialised, and the hottest function of a streamed answer.
        if let events = bytes.withContiguousStorageIfAvailable({ feed(UnsafeRawBufferPointer($0)) }) { return events }
        return Array(bytes).withUnsafeBytes { feed($0) }
    }

    /// Feeds bytes; returns the events completed by them. Copies each line's bytes in one go.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [SSEEvent] {
        var out: [SSEEvent] = []
        var i = 0
        let n = bytes.count
        while i < n {
            if lastWasCR {  // CR LF ends one line, not two
                lastWasCR = false
                if bytes[i] == 0x0A { i += 1; continue }
            }
            var end = i
            while end < n, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
            if end > i { line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<end])) }
            guard end < n else { break }
            lastWasCR = bytes[end] == 0x0D
            if let e = endLine() { out.append(e) }
            i = end + 1
        }
        return out
    }

    /// Ends the stream: a final event not followed by a blank line still counts.
    public mutating func finish() -> SSEEvent? {
        if !line.isEmpty { _ = endLine() }
        return dispatch()
    }

    private mutating func endLine() -> SSEEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line.first == UInt8(ascii: ":") { return nil }  // comment
        var field = line[...]
        var value: ArraySlice<UInt8> = []
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == 0x20 { value = value.dropFirst() }
        }
        switch String(decoding: field, as: UTF8.self) {
        case "data":
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        case "event":
            event = String(decoding: value, as: UTF8.self)
        default:
            break  // id, retry: not used by the upstreams
        }
        return nil
    }

    private mutating func dispatch() -> SSEEvent? {
        defer {
            event = nil
            data.removeAll(keepingCapacity: true)
            hasData = false
        }
        guard hasData else { return nil }
        return SSEEvent(event: event, data: String(decoding: data, as: UTF8.self))
    }
}

extension JSONValue {
    /// Appends `data: {json}\n\n` (keys unsorted: for clients, not for hashes or golden files).
    public func writeSSE(into out: inout [UInt8]) {
        out.append(contentsOf: "data: ".utf8)
        write(into: &out, sortingKeys: false)
        out.append(contentsOf: [0x0A, 0x0A])
    }
}

public enum SSE {
    /// `data: {json}\n\n`
    public static func data(_ json: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        json.writeSSE(into: &out)
        return out
    }

    public static func event(_ name: String, _ json: JSONValue) -> [UInt8] {
        var out = Array("event: \(name)\ndata: ".utf8)
        json.write(into: &out)
        out.append(contentsOf: [0x0A, 0x0A])
        return out
    }

    public static let done: [UInt8] = Array("data: [DONE]\n\n".utf8)

    public static func comment(_ text: String) -> [UInt8] {
        Array(": \(text.filter { $0 != "\n" && $0 != "\r" })\n\n".utf8)
    }
}
