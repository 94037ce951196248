import Foundation
import LucairWire

/// The router's features of a request, exactly as `router/features.py` specifies them
/// (spec `lucair-router-features/1`; `router/model/test-vectors.json` pins the port): the distinct
/// hashed n-gram buckets of the user text and 33 dense values. Byte-level throughout: no
/// `Character`s, no Unicode case folding, so Swift and Python agree bit for bit.
///
/// Hand-written on purpose: no listed package computes these features, and the hot path needs a
/// single pass over the bytes without building strings.
public struct Features: Sendable {
    public static let buckets = 1 << 18
    public static let denseCount = 33
    static let maxBytes = 32768
    static let maxTokens = 4096

    /// Distinct active buckets, in no particular order.
    public internal(set) var active: [Int32] = []
    /// Raw dense values, in the artifact's order.
    public internal(set) var dense: [Double] = []
    /// Occurrences of each lexicon's words, in `Lexicons.order`.
    public internal(set) var lexiconCounts: [Int] = []
    /// UTF-8 bytes and tokens of the user text (after the cuts).
    public internal(set) var userBytes = 0
    public internal(set) var tokens = 0

    public var activeCount: Int { active.count }

    func hashWeightSum(_ w: [Double]) -> Double {
        var s = 0.0
        for b in active { s += w[Int(b)] }
        return s
    }

    // MARK: text

    /// The text of one message: a string content, or the `text` of its text parts joined by "\n".
    static func appendText(of message: JSONValue, to out: inout [UInt8]) {
        switch message["content"] {
        case .string(let s)?: out.append(contentsOf: s.utf8)
        case .array(let parts)?:
            var first = true
            for part in parts {
                guard case .object(let o) = part, case .string(let t)? = o["text"] else { continue }
                if let type = o["type"], type != .string("text") { continue }
                if !first { out.append(10) }
                first = false
                out.append(contentsOf: t.utf8)
            }
        default: break
        }
    }

    static func hasText(_ message: JSONValue) -> Bool {
        var b: [UInt8] = []
        appendText(of: message, to: &b)
        return !b.isEmpty
    }

    // MARK: extraction

    public static func extract(_ messages: [JSONValue], lexicons: Lexicons) -> Features {
        var text: [UInt8] = []
        var nUser = 0, nAssistant = 0, hasSystem = false
        for m in messages {
            guard case .string(let role)? = m["role"] else { continue }
            switch role {
            case "user":
                if nUser > 0 { text.append(10) }
                nUser += 1
                appendText(of: m, to: &text)
            case "assistant": nAssistant += 1
            case "system", "developer": if !hasSystem, hasText(m) { hasSystem = true }
            default: break
            }
        }
        if text.count > maxBytes {
            text = Array(text[..<(maxBytes / 2)]) + Array(text[(text.count - maxBytes / 2)...])
        }
        return text.withUnsafeBufferPointer { b in
            extract(bytes: b, users: nUser, assistants: nAssistant, hasSystem: hasSystem, lexicons: lexicons)
        }
    }

    static func extract(bytes b: UnsafeBufferPointer<UInt8>, users: Int, assistants: Int, hasSystem: Bool, lexicons: Lexicons) -> Features {
        let n = b.count
        // One pass over the original-case bytes for the byte counts.
        var digits = 0, nonASCII = 0, upper = 0, letters = 0, mathSymbols = 0, latex = 0, codePunct = 0
        var qmarks = 0, newlines = 0, fence = false, mcOptions = 0
        for i in 0..<n {
            let c = b[i]
            switch c {
            case 48...57: digits += 1
            case 65...90: upper += 1; letters += 1
            case 97...122: letters += 1
            case 0x80...: nonASCII += 1
            case 61, 43, 42, 47, 94, 60, 62, 37: mathSymbols += 1  // = + * / ^ < > %
            case 92, 36: latex += 1  // \ $
            case 123, 125, 91, 93, 59, 40, 41, 95: codePunct += 1  // { } [ ] ; ( ) _
            case 63: qmarks += 1
            case 10:
                newlines += 1
                if i + 2 < n, (65...74).contains(b[i + 1]), b[i + 2] == 46 || b[i + 2] == 41 { mcOptions += 1 }
            case 96: if i + 2 < n, b[i + 1] == 96, b[i + 2] == 96 { fence = true }
            default: break
            }
        }

        // Tokens: maximal runs of [0-9a-z] or ≥ 0x80 in the lower-cased bytes.
        var starts: [Int32] = [], ends: [Int32] = []
        starts.reserveCapacity(n / 4 + 1)
        ends.reserveCapacity(n / 4 + 1)
        var start = -1
        for i in 0..<n {
            if isWordByte(b[i]) {
                if start < 0 { start = i }
            } else if start >= 0 {
                starts.append(Int32(start)); ends.append(Int32(i)); start = -1
            }
        }
        if start >= 0 { starts.append(Int32(start)); ends.append(Int32(n)) }
        if starts.count > maxTokens {
            let half = maxTokens / 2
            starts = Array(starts[..<half]) + Array(starts[(starts.count - half)...])
            ends = Array(ends[..<half]) + Array(ends[(ends.count - half)...])
        }
        let nt = starts.count

        // Per token: NUMBER or not, lexicon hits, then the n-gram buckets into a set.
        var numbers = 0, rawLength = 0
        var lex = [Int](repeating: 0, count: Lexicons.order.count)
        var set = BucketSet(expected: 2 * nt + 2)
        var previousBigram: UInt64? = nil  // FNV state after "b|" + previous token + " ", nil if it was a NUMBER
        for k in 0..<nt {
            let s = Int(starts[k]), e = Int(ends[k])
            rawLength += e - s
            var allDigits = true
            for i in s..<e where !(48...57).contains(b[i]) { allDigits = false; break }
            if allDigits {
                numbers += 1  // no n-gram involves a NUMBER
                previousBigram = nil
                continue
            }
            let mask = lexicons.mask(b, s, e)
            if mask != 0 { for j in 0..<lex.count where mask & (1 << j) != 0 { lex[j] += 1 } }
            set.insert(FNV.continue(FNV.wordPrefix, b, s, e))
            if let pb = previousBigram { set.insert(FNV.continue(pb, b, s, e)) }
            if k == 0 { set.insert(FNV.continue(FNV.startPrefix, b, s, e)) }
            let bigramLeft = FNV.continue(FNV.bigramPrefix, b, s, e)
            if k == nt - 1 { set.insert(FNV.step(FNV.step(bigramLeft, 32), 36)) }  // tok + " $"
            previousBigram = FNV.step(bigramLeft, 32)
        }

        var f = Features()
        f.active = set.members()
        f.userBytes = n
        f.tokens = nt
        f.lexiconCounts = lex
        let ln1p = { (x: Int) in log1pD(Double(x)) }
        let nb = Double(max(1, n)), ntD = Double(max(1, nt))
        f.dense = [
            ln1p(n), ln1p(nt), ln1p(users), ln1p(assistants), hasSystem ? 1 : 0,
            Double(digits) / nb, ln1p(numbers), ln1p(mathSymbols), ln1p(latex), fence ? 1 : 0,
            ln1p(codePunct), Double(nonASCII) / nb, ln1p(qmarks), ln1p(newlines), mcOptions >= 2 ? 1 : 0,
            min(20, Double(rawLength) / ntD), Double(upper) / Double(max(1, letters)),
        ]
        f.dense += lex.map { ln1p($0) }
        f.dense += lex.map { Double($0) / ntD }
        return f
    }

    @inline(__always) static func isWordByte(_ c: UInt8) -> Bool {
        (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) || c >= 0x80
    }
}

/// FNV-1a 64 over the lower-cased bytes, continued from a saved state so n-gram keys are hashed
/// without building them.
enum FNV {
    static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    @inline(__always) static func step(_ h: UInt64, _ c: UInt8) -> UInt64 { (h ^ UInt64(c)) &* prime }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { (65...90).contains(c) ? c + 32 : c }

    @inline(__always) static func `continue`(_ h0: UInt64, _ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> UInt64 {
        var h = h0
        for i in s..<e { h = step(h, lower(b[i])) }
        return h
    }

    static func hash<S: Sequence<UInt8>>(_ bytes: S) -> UInt64 { bytes.reduce(offset, step) }

    static let wordPrefix = hash("w|".utf8)
    static let bigramPrefix = hash("b|".utf8)
    static let startPrefix = hash("b|^ ".utf8)
}

/// Open-addressing set of bucket indices, sized for the request: distinct buckets without sorting
/// and without a 2^18-entry scratch array per request.
struct BucketSet {
    var slots: [Int32]
    let mask: Int
    var count = 0

    init(expected: Int) {
        var cap = 16
        while cap < 2 * expected { cap <<= 1 }
        slots = [Int32](repeating: -1, count: cap)
        mask = cap - 1
    }

    @inline(__always) mutating func insert(_ h: UInt64) {
        let bucket = Int32(truncatingIfNeeded: h & UInt64(Features.buckets - 1))
        var i = Int(truncatingIfNeeded: (UInt64(bucket) &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
        while true {
            let v = slots[i]
            if v == bucket { return }
            if v < 0 { slots[i] = bucket; count += 1; return }
            i = (i + 1) & mask
        }
    }

    func members() -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(count)
        for v in slots where v >= 0 { out.append(v) }
        return out
    }
}

/// The eight word lists, matched against whole lower-cased tokens. A small open-addressing table
/// keyed by the token's FNV hash, with the bytes kept to confirm a hit.
public struct Lexicons: Sendable {
    public static let order = ["math", "code", "reasoning", "writing", "roleplay", "extraction", "constraints", "knowledge"]
    var keys: [UInt64]
    var words: [[UInt8]]
    var masks: [UInt16]
    let tableMask: Int

    init(_ lists: [[String]]) {
        var merged: [[UInt8]: UInt16] = [:]
        for (j, list) in lists.enumerated() { for w in list { merged[Array(w.utf8), default: 0] |= 1 << j } }
        var cap = 16
        while cap < 4 * merged.count { cap <<= 1 }
        keys = [UInt64](repeating: 0, count: cap)
        words = [[UInt8]](repeating: [], count: cap)
        masks = [UInt16](repeating: 0, count: cap)
        tableMask = cap - 1
        for (w, m) in merged {
            let h = FNV.hash(w)
            var i = Int(truncatingIfNeeded: h) & tableMask
            while masks[i] != 0 { i = (i + 1) & tableMask }
            keys[i] = h; words[i] = w; masks[i] = m
        }
    }

    /// The lexicons (bit j = `order[j]`) containing the lower-cased token b[s..<e].
    @inline(__always) func mask(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> UInt16 {
        let h = FNV.continue(FNV.offset, b, s, e)
        var i = Int(truncatingIfNeeded: h) & tableMask
        while masks[i] != 0 {
            if keys[i] == h, words[i].count == e - s, words[i].withUnsafeBufferPointer({ w in
                for k in 0..<(e - s) where w[k] != FNV.lower(b[s + k]) { return false }
                return true
            }) { return masks[i] }
            i = (i + 1) & tableMask
        }
        return 0
    }
}

@inline(__always) func log1pD(_ x: Double) -> Double { Foundation.log1p(x) }
