import Foundation
import LucairCore
import LucairWire
import Testing

@testable import LucairRouter

/// The artifact and the worked vectors written by `router/train.py`, read from the repository.
enum Artifact {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/LucairGateway/Resources/router").standardized
    static let json: JSONValue = try! JSON.parse(bytes: Array(try! Data(contentsOf: dir.appendingPathComponent("router-v1.json"))))
    static let model: RouterModel = try! RouterModel(json: json)
    static let vectors: JSONValue = try! JSON.parse(bytes: Array(try! Data(contentsOf: dir.appendingPathComponent("test-vectors.json"))))
}

/// The Swift port must reproduce the Python reference exactly: same buckets, dense values to 1e-9,
/// score to 1e-6, same calibrated probability and tier.
@Suite struct FeatureVectorTests {
    @Test func fnvHashesMatchTheReference() throws {
        let hashes = try #require(Artifact.vectors["hashes"]?.arrayValue)
        #expect(hashes.count >= 5)
        for h in hashes {
            let key = try #require(h["key"]?.stringValue)
            let hex = try #require(h["fnv1a64_hex"]?.stringValue)
            #expect(String(FNV.hash(key.utf8), radix: 16).leftPad(16) == hex, "key \(key)")
            #expect(Int(FNV.hash(key.utf8) & UInt64(Features.buckets - 1)) == h["bucket"]?.intValue)
        }
    }

    @Test func workedVectorsReproduce() throws {
        #expect(Artifact.vectors["spec"]?.stringValue == RouterModel.specVersion)
        #expect(Artifact.vectors["model_version"]?.stringValue == Artifact.model.version)
        let vectors = try #require(Artifact.vectors["vectors"]?.arrayValue)
        #expect(vectors.count >= 10)
        let policy = RoutePolicy(model: Artifact.model)
        for v in vectors {
            let name = v["name"]?.stringValue ?? "?"
            let f = Features.extract(v["messages"]?.arrayValue ?? [], lexicons: Artifact.model.lexicons)
            #expect(f.userBytes == v["user_bytes"]?.intValue, "\(name): user bytes")
            #expect(f.active.sorted().map(Int.init) == v["active_buckets"]?.arrayValue?.compactMap(\.intValue), "\(name): buckets")
            let dense = (v["dense"]?.arrayValue ?? []).compactMap(\.doubleValue)
            #expect(dense.count == Features.denseCount)
            for (j, (a, b)) in zip(f.dense, dense).enumerated() { #expect(abs(a - b) <= 1e-9, "\(name): dense[\(j)] \(a) vs \(b)") }
            let z = Artifact.model.score(f)
            let expected = try #require(v["z"]?.doubleValue)
            #expect(abs(z - expected) <= 1e-6, "\(name): z \(z) vs \(expected)")
            #expect(abs(Artifact.model.pWeakOK(z) - (v["p_weak_ok"]?.doubleValue ?? -1)) <= 1e-9, "\(name): p")
            #expect(policy.cheapestTier(z: z, bar: 0.70).rawValue == v["tier"]?.stringValue, "\(name): tier")
        }
    }

    @Test func thresholdsAtTheArtifactsBarMatchTheArtifact() throws {
        let policy = RoutePolicy(model: Artifact.model)
        let th = policy.thresholds(bar: 0.70)
        let stored = try #require(Artifact.json["tiers"]?["thresholds"])
        #expect(Artifact.json["tiers"]?["quality_bar"]?.doubleValue == 0.70)
        for t in [Tier.baseline, .fast, .balanced] {
            let want = try #require(stored[t.rawValue]?.doubleValue)
            #expect(abs(th[t]! - want) < 1e-5, "\(t)")
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
