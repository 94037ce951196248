import Crypto
import LucairCore
import LucairWire
import Testing

@testable import LucairLedger

@Suite struct LedgerTests {
    let key = Curve25519.Signing.PrivateKey()

    func chain(_ n: Int, tenant: String = "ten_a") -> (entries: [LedgerEntry], head: LedgerHead) {
        var head = LedgerHead()
        let entries = (0..<n).map { i in head.append(tenantId: tenant, kind: "usage", ref: "req_\(i)", body: ["cost_nano": .int(1000 + i)]) }
        return (entries, head)
    }

    func stored(_ es: [LedgerEntry]) -> [LedgerVerifier.Stored] {
        es.map { .init(seq: $0.seq, canonical: $0.canonical, hash: Hex.encode($0.hash)) }
    }

    @Test func theFastUsageEncodingIsTheCanonicalOne() {
        for i in 0..<50 {
            let r = UsageRecord(requestId: "req_\(i)\u{1}\"x", tenantId: "ten_\(i % 3)", keyId: "key_é\(i)", endpoint: "chat.completions", tier: "fast",
                                model: "m\\\(i)", deployment: "d", stream: i % 2 == 0, status: 200 + i, errorType: nil,
                                usage: TokenUsage(input: i, cachedInput: i * 2, cacheWrite: i * 3, output: i * 4, reasoning: i * 5, estimated: i % 3 == 0),
                                priceVersion: "v\n\(i)", unitPrice: ModelPrice(input: 1000 + Int64(i), cachedInput: 100, cacheWrite: 1250, output: 5000),
                                queueMicros: 0, ttftMicros: 0, totalMicros: 0, createdAtMillis: 1_795_000_000_000 + Int64(i))
            var a = LedgerHead(), b = LedgerHead()
            for _ in 0..<3 {
                let slow = a.append(tenantId: r.tenantId, kind: "usage", ref: r.requestId, body: LedgerEntry.usageBody(r))
                let fast = b.append(usage: r)
                #expect(slow == fast, "\(String(decoding: fast.canonical, as: UTF8.self))")
            }
        }
    }

    @Test func theFrontierRootIsTheRFC6962Root() {
        var f = Merkle.Frontier()
        var leaves: [[UInt8]] = []
        #expect(f.root == Merkle.emptyRoot)
        for i in 0..<70 {
            let l = Merkle.leaf(Array(SHA256.hash(data: [UInt8(i)])))
            leaves.append(l)
            f.append(leafHash: l)
            #expect(f.root == Merkle.root(leaves[...]), "n=\(i + 1)")
            // The definition, spelled out for three leaves: H(1 ‖ H(1 ‖ l0 ‖ l1) ‖ l2).
            if i == 2 { #expect(f.root == Merkle.node(Merkle.node(leaves[0], leaves[1]), leaves[2])) }
        }
        #expect(Merkle.Frontier(size: f.size, nodes: f.nodes) == f)
        #expect(Merkle.Frontier(size: 5, nodes: [leaves[0]]) == nil)
    }

    @Test func everyLeafHasAProofAndForgedOnesFail() {
        for n in [1, 2, 3, 5, 8, 13] {
            let leaves = (0..<n).map { Merkle.leaf(Array(SHA256.hash(data: [UInt8($0)]))) }
            let root = Merkle.root(leaves[...])
            for m in 0..<n {
                let path = Merkle.auditPath(m, leaves[...])
                #expect(Merkle.verifyInclusion(leafHash: leaves[m], index: Int64(m), size: Int64(n), path: path, root: root))
                #expect(!Merkle.verifyInclusion(leafHash: leaves[(m + 1) % n], index: Int64(m), size: Int64(n), path: path, root: root) || n == 1)
            }
        }
    }

    @Test func anIntactChainVerifiesAgainstItsCheckpoints() throws {
        let (entries, head) = chain(25)
        #expect(head.seq == 25 && head.hash == entries.last!.hash)
        let cp = try Checkpoint.signed(tenantId: "ten_a", size: 25, head: head.hash, root: head.frontier.root, at: 1, key: key)
        var early = LedgerHead()
        for e in entries.prefix(10) { early.seq = e.seq; early.hash = e.hash; early.frontier.append(leafHash: Merkle.leaf(e.hash)) }
        let cp10 = try Checkpoint.signed(tenantId: "ten_a", size: 10, head: early.hash, root: early.frontier.root, at: 0, key: key)
        #expect(LedgerVerifier.verify(tenantId: "ten_a", entries: stored(entries), checkpoints: [cp, cp10], publicKey: key.publicKey) == nil)
        #expect(entries[3].header?.seq == 4 && entries[3].body?["cost_nano"]?.intValue == 1003)
        #expect(LedgerHead(seq: head.seq, hashHex: Hex.encode(head.hash), frontierText: head.frontierText) == head)
    }

    @Test func tamperingIsCaughtAndNamed() throws {
        let (entries, head) = chain(12)
        let cp = try Checkpoint.signed(tenantId: "ten_a", size: 12, head: head.hash, root: head.frontier.root, at: 7, key: key)
        func check(_ s: [LedgerVerifier.Stored], _ cps: [Checkpoint] = []) -> LedgerVerifier.Break? {
            LedgerVerifier.verify(tenantId: "ten_a", entries: s, checkpoints: cps.isEmpty ? [cp] : cps, publicKey: key.publicKey)
        }
        // An amount changed in place.
        var s = stored(entries)
        s[4].canonical = Array(String(decoding: s[4].canonical, as: UTF8.self).replacingOccurrences(of: "1004", with: "9004").utf8)
        #expect(check(s)?.seq == 5 && check(s)?.problem.contains("hash") == true)
        // Changed and re-hashed, the following entries re-chained too: only the checkpoint knows.
        var head2 = LedgerHead()
        let rewritten = entries.enumerated().map { i, e in
            head2.append(tenantId: "ten_a", kind: "usage", ref: e.ref, body: ["cost_nano": .int(i == 4 ? 1 : 1000 + i)])
        }
        #expect(check(stored(rewritten))?.problem.contains("checkpoint") == true)
        // An entry deleted.
        var d = stored(entries)
        d.remove(at: 6)
        #expect(check(d)?.seq == 7 && check(d)?.problem.contains("missing") == true)
        // Two entries swapped.
        var r = stored(entries)
        r.swapAt(2, 3)
        #expect(check(r)?.seq == 3)
        // The tail truncated: the checkpoint covers more than remains.
        let t = Array(stored(entries).prefix(9))
        #expect(check(t)?.seq == 10 && check(t)?.problem.contains("truncated") == true)
        // A checkpoint forged with another key.
        let forged = try Checkpoint.signed(tenantId: "ten_a", size: 12, head: head.hash, root: head.frontier.root, at: 8, key: Curve25519.Signing.PrivateKey())
        #expect(check(stored(entries), [forged])?.problem.contains("signature") == true)
        // Another tenant's entry spliced in.
        var other = stored(entries)
        other[0] = stored(chain(1, tenant: "ten_b").entries)[0]
        #expect(check(other)?.seq == 1)
    }

    @Test func inclusionProofsVerifyWithTheCheckpointAloneAndForgeriesFail() throws {
        let (entries, head) = chain(9)
        let cp = try Checkpoint.signed(tenantId: "ten_a", size: 9, head: head.hash, root: head.frontier.root, at: 3, key: key)
        let leaves = entries.map { Merkle.leaf($0.hash) }
        for (i, e) in entries.enumerated() {
            let proof = InclusionProof(entry: e.canonical, index: Int64(i), path: Merkle.auditPath(i, leaves[...]), checkpoint: cp)
            let roundTrip = try #require(InclusionProof(json: try JSON.parse(bytes: proof.json.serialized())))
            #expect(roundTrip == proof && roundTrip.verify(key: key.publicKey))
        }
        var forged = InclusionProof(entry: entries[2].canonical, index: 2, path: Merkle.auditPath(2, leaves[...]), checkpoint: cp)
        forged.entry = Array(String(decoding: forged.entry, as: UTF8.self).replacingOccurrences(of: "1002", with: "1").utf8)
        #expect(!forged.verify(key: key.publicKey))
        var wrongKey = InclusionProof(entry: entries[2].canonical, index: 2, path: Merkle.auditPath(2, leaves[...]), checkpoint: cp)
        #expect(!wrongKey.verify(key: Curve25519.Signing.PrivateKey().publicKey))
        wrongKey.checkpoint.size = 10
        #expect(!wrongKey.verify(key: key.publicKey))
    }
}
