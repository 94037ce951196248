/// Writes JSON objects straight to bytes, for the ones built on every request with a fixed shape
/// (the `lucair` body field, the route explanation): no tree, no dictionary hashing. Members are
/// written in call order; a value that is not a plain scalar goes in as a `JSONValue`.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the next member needs a comma before it (false right after an opening brace).
    private var inObject = false

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
    }

    /// `{ members }` as a whole value (the top level).
    public mutating func object(_ members: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        inObject = false
        members(&self)
        bytes.append(UInt8(ascii: "}"))
        inObject = true
    }

    /// `"key": { members }`.
    public mutating func object(_ key: String, _ members: (inout JSONWriter) -> Void) {
        self.key(key)
        object(members)
    }

    public mutating func field(_ key: String, _ value: String) {
        self.key(key)
        JSONValue.writeString(value, into: &bytes)
    }

    public mutating func field(_ key: String, _ value: some BinaryInteger) {
        self.key(key)
        if let v = Int64(exactly: value) { JSONValue.writeInteger(v, into: &bytes) } else { bytes.append(contentsOf: String(value).utf8) }
    }

    public mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: value ? "true".utf8 : "false".utf8)
    }

    /// As `JSONValue.double` writes it (null when not finite).
    public mutating func field(_ key: String, _ value: Double) {
        field(key, JSONValue.double(value))
    }

    public mutating func field(_ key: String, _ value: JSONValue) {
        self.key(key)
        value.write(into: &bytes, sortingKeys: false)
    }

    private mutating func key(_ key: String) {
        if inObject { bytes.append(UInt8(ascii: ",")) }
        inObject = true
        JSONValue.writeString(key, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }
}

extension JSONWriter {
    /// One object written by `members`, as a tree: for the rarer callers that want a `JSONValue`
    /// of the same shape, so the shape is written down once.
    public static func value(_ members: (inout JSONWriter) -> Void) -> JSONValue {
        var w = JSONWriter()
        w.object(members)
        return try! JSON.parse(bytes: w.bytes)  // the writer's own output always parses
    }
}
