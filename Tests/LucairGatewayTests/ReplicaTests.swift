import Foundation
import LucairWire
import Testing

/// Two gateways sharing one PostgreSQL, as two replicas would.
@Suite struct ReplicaTests {
    var postgres: String {
        get throws { try #require(ProcessInfo.processInfo.environment["LUCAIR_TEST_POSTGRES_URL"], "scripts/postgres.sh prints the URL") }
    }

    @Test func aKeyMintedOrRevokedOnOneReplicaIsHonouredByTheOtherWithinASecond() async throws {
        let url = try postgres
        try await TestStack.with(storageURL: url) { one in
            try await TestStack.with(storageURL: url) { two in
                let t = try await one.tenant("replica-\(UUID().uuidString.prefix(8))")
                // Minted through replica one: replica two accepts it once its poll sees the new version.
                var accepted = false
                let start = ContinuousClock.now
                while !accepted, ContinuousClock.now - start < .seconds(1) {
                    accepted = try await two.chat(t.user).status == 200
                    if !accepted { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(accepted)
                #expect(try await two.chat(t.user).status == 200)
                let revokedAt = ContinuousClock.now
                let r = try await one.send("POST", "/admin/v1/tenants/\(t.id)/keys/\(t.userLineage)/revoke", key: TestStack.adminKey)
                #expect(r.status == 200)
                var refused = false
                while !refused, ContinuousClock.now - revokedAt < .seconds(1) {
                    refused = try await two.chat(t.user).status == 401
                    if !refused { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(refused, "replica two still accepted the revoked key after 1 s")
                #expect(try await one.chat(t.user).status == 401)
            }
        }
    }
}
