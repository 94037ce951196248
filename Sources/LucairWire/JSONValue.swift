/// An untyped JSON tree. The gateway relays requests and responses it does not fully model, so it
/// keeps every field it does not touch. Numbers keep their literal text, so relaying never changes
/// a value (no float rounding, no integer overflow).
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public static func int<I: BinaryInteger>(_ v: I) -> JSONValue { .number(String(v)) }
    public static func double(_ v: Double) -> JSONValue {
        v.isFinite ? .number(v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)) : .null
    }

    public subscript(key: String) -> JSONValue? {
        get { if case .object(let o) = self { return o[key] } else { return nil } }
        set {
            guard case .object(var o) = self else { return }
            self = .null  // drops the enum's reference, so `o` is unique and not copied on write
            o[key] = newValue
            self = .object(o)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    public var doubleValue: Double? { if case .number(let n) = self { return Double(n) } else { return nil } }
    /// The integer value of a number written as an integer (`3`, `3.0` and `3e0` count; `3.5` does not).
    public var intValue: Int? {
        guard case .number(let n) = self else { return nil }
        if let i = Int(n) { return i }
        if let d = Double(n), d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        return nil
    }

    /// This object's members (none for anything but an object). Taken from a value the caller
    /// gives up (a member removed from its parent, say), the members are then uniquely
    /// referenced, so changes to it happen in place instead of copying it.
    public consuming func intoObject() -> JSONObject {
        if case .object(let o) = self { return o }
        return [:]
    }

    /// As `intoObject`, for an array's elements.
    public consuming func intoArray() -> [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }

    /// The JSON type name used in error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
    public init(nilLiteral: ()) { self = .null }
}
