import Crypto

/// RFC 6962 / RFC 9162 Merkle trees over a tenant's entry hashes: leaf = SHA-256(0x00 ‖ entry
/// hash), node = SHA-256(0x01 ‖ left ‖ right), split at the largest power of two below n.
public enum Merkle {
    public static func leaf(_ entryHash: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: leafPrefix)
        h.update(data: entryHash)
        return Array(h.finalize())
    }

    public static func node(_ l: [UInt8], _ r: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: nodePrefix)
        h.update(data: l)
        h.update(data: r)
        return Array(h.finalize())
    }

    static let leafPrefix: [UInt8] = [0]
    static let nodePrefix: [UInt8] = [1]
    public static let emptyRoot = Array(SHA256.hash(data: [UInt8]()))

    /// The roots of the perfect subtrees covering n leaves, largest (leftmost) first: enough to
    /// append a leaf and to compute the root without the leaves (kept per tenant by the writer).
    public struct Frontier: Sendable, Equatable {
        public private(set) var size: Int64 = 0
        public private(set) var nodes: [[UInt8]] = []

        public init() {}
        public init?(size: Int64, nodes: [[UInt8]]) {
            guard size.nonzeroBitCount == nodes.count else { return nil }
            self.size = size
            self.nodes = nodes
        }

        public mutating func append(leafHash: [UInt8]) {
            var node = leafHash
            var k = size
            while k & 1 == 1 {
                node = Merkle.node(nodes.removeLast(), node)
                k >>= 1
            }
            nodes.append(node)
            size += 1
        }

        public var root: [UInt8] {
            guard var acc = nodes.last else { return Merkle.emptyRoot }
            for n in nodes.dropLast().reversed() { acc = Merkle.node(n, acc) }
            return acc
        }
    }

    /// MTH(D[n]) over leaf hashes (already `leaf(...)`-ed).
    public static func root(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        switch leaves.count {
        case 0: return emptyRoot
        case 1: return leaves.first!
        default:
            let k = splitPoint(leaves.count)
            return node(root(leaves.prefix(k)), root(leaves.dropFirst(k)))
        }
    }

    static func splitPoint(_ n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }

    /// PATH(m, D[n]): the audit path proving leaf m is in the tree of these leaves.
    public static func auditPath(_ m: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        guard leaves.count > 1 else { return [] }
        let k = splitPoint(leaves.count)
        if m < k { return auditPath(m, leaves.prefix(k)) + [root(leaves.dropFirst(k))] }
        return auditPath(m - k, leaves.dropFirst(k)) + [root(leaves.prefix(k))]
    }

    /// RFC 9162 §2.1.3.2: does `path` prove `leafHash` at `index` in a tree of `size` with `root`?
    public static func verifyInclusion(leafHash: [UInt8], index: Int64, size: Int64, path: [[UInt8]], root: [UInt8]) -> Bool {
        guard index >= 0, index < size else { return false }
        var fn = index, sn = size - 1
        var r = leafHash
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = node(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = node(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }
}
