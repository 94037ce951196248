/// A JSON object's members, in the order they came (or were added), looked up by a linear scan.
///
/// Why not `[String: JSONValue]`: the gateway builds and reads a few dozen small objects per
/// request (the client's body, the upstream's answer, the normalised answer), and hashing their keys
/// (SipHash, a seed per lookup) was about a third of relaying a whole answer
/// (`lucair-microbench`, "relay a whole answer"). Objects in chat traffic have a handful of
/// members, where comparing short strings beats hashing them. Members keep their order, so a relayed
/// object reads as it was sent. Large objects stay correct: a parsed object's repeated keys are
/// merged in one hashed pass (`JSONObject.parsed`), never key by key.
///
/// The API is the subset of `Dictionary`'s the code base uses, so an object reads like one.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSONValue)
    public typealias Index = Int

    @usableFromInline var members: [Element]

    public init() { members = [] }
    public init(minimumCapacity: Int) {
        members = []
        members.reserveCapacity(minimumCapacity)
    }

    /// The last of a repeated key stands, as in `JSON.parse`.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }

    public init<S: Sequence<(String, JSONValue)>>(_ elements: S) {
        self = .parsed(elements.map { (key: $0.0, value: $0.1) })
    }

    /// Members as parsed (or listed), a repeated key merged (the last value stands, in the place of
    /// the first): small objects compare keys, larger ones use one hashed pass, so a hostile body
    /// with many keys costs no scan per key.
    static func parsed(_ members: [Element]) -> JSONObject {
        var o = JSONObject()
        if members.count <= 8 {
            let repeated = members.indices.contains { i in members[..<i].contains { same($0.key, members[i].key) } }
            if !repeated {
                o.members = members
            } else {
                for m in members { o[m.key] = m.value }
            }
            return o
        }
        var at: [String: Int] = [:]  // a key's place in `o`
        at.reserveCapacity(members.count)
        o.members.reserveCapacity(members.count)
        for m in members {
            if let i = at[m.key] {
                o.members[i].value = m.value
            } else {
                at[m.key] = o.members.count
                o.members.append(m)
            }
        }
        return o
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { members.count }
    @inlinable public subscript(position: Int) -> Element { members[position] }

    @inlinable func index(ofKey key: String) -> Int? {
        members.firstIndex { Self.same($0.key, key) }
    }

    /// Keys of different lengths differ, which settles most comparisons before `==` runs.
    @inlinable static func same(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a == b
    }

    public subscript(key: String) -> JSONValue? {
        get { index(ofKey: key).map { members[$0].value } }
        set {
            if let i = index(ofKey: key) {
                if let newValue { members[i].value = newValue } else { members.remove(at: i) }
            } else if let newValue {
                members.append((key, newValue))
            }
        }
    }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = index(ofKey: key) else { return nil }
        return members.remove(at: i).value
    }

    public var keys: [String] { members.map(\.key) }
    public var values: [JSONValue] { members.map(\.value) }

    public func merging(_ other: JSONObject, uniquingKeysWith combine: (JSONValue, JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var o = self
        for (k, v) in other { o[k] = try o[k].map { try combine($0, v) } ?? v }
        return o
    }

    /// Objects are equal when they have the same members, whatever their order (JSON's meaning).
    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.count == b.count && a.members.allSatisfy { m in b[m.key] == m.value }
    }

    /// Independent of the members' order, as `==` is.
    public func hash(into hasher: inout Hasher) {
        var combined = 0
        for m in members {
            var h = Hasher()
            h.combine(m.key)
            h.combine(m.value)
            combined ^= h.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}

extension JSONObject: CustomStringConvertible {
    /// The object as JSON, keys sorted (logs and test messages).
    public var description: String { JSONValue.object(self).jsonString }
}
