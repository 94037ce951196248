import AsyncHTTPClient
import Foundation
import LucairCore
import LucairWire
import NIOCore
import Testing

/// Prepaid wallets fail closed: no request is forwarded without a hold covering its worst case,
/// and under a thousand concurrent requests a one-cent wallet never goes negative.
@Suite(.timeLimit(.minutes(3))) struct WalletTests {
    static func chat(_ text: String) -> JSONValue {
        ["model": "lucair/baseline", "max_tokens": 16, "messages": [["role": "user", "content": .string(text)]]]
    }

    @Test func aOneCentWalletNeverGoesNegativeUnderAThousandConcurrentRequests() async throws {
        try await TestStack.with { s in
            let t = try await s.tenant("payg", kind: "external")
            // An empty wallet: refused with OpenAI's insufficient_quota, and nothing reaches the upstream.
            let before = s.stats.requests
            let empty = try await s.send("POST", "/v1/chat/completions", Self.chat("hello"), key: t.user)
            #expect(empty.status == 402 && empty.json["error"]?["code"]?.stringValue == "insufficient_quota", "\(empty.body)")
            #expect(empty.json["error"]?["type"]?.stringValue == "insufficient_quota")
            #expect(s.stats.requests == before)
            // One cent, credited once however often the same payment is reported.
            let top = try await s.send("POST", "/admin/v1/tenants/\(t.id)/wallet/topups", ["amount_nano": 10_000_000, "reference": "pay_1"], key: TestStack.adminKey)
            #expect(top.status == 201 && top.json["balance_nano"]?.intValue == 10_000_000, "\(top.body)")
            let again = try await s.send("POST", "/admin/v1/tenants/\(t.id)/wallet/topups", ["amount_nano": 10_000_000, "reference": "pay_1"], key: TestStack.adminKey)
            #expect(again.status == 200 && again.json["credited"] == false && again.json["balance_nano"]?.intValue == 10_000_000)
            let notYours = try await s.send("POST", "/admin/v1/tenants/\(t.id)/wallet/topups", ["amount_nano": 1, "reference": "x"], key: t.admin)
            #expect(notYours.status == 403)

            var config = HTTPClient.Configuration()
            config.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 1000)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            let body = Self.chat("spend it [fake latency_ms=30 output_tokens=16]").serialized()
            let statuses = await withTaskGroup(of: Int.self) { g in
                for _ in 0..<1000 {
                    g.addTask {
                        var req = HTTPClientRequest(url: s.url + "/v1/chat/completions")
                        req.method = .POST
                        req.headers.add(name: "authorization", value: "Bearer \(t.user)")
                        req.headers.add(name: "content-type", value: "application/json")
                        req.body = .bytes(ByteBuffer(bytes: body))
                        guard let r = try? await client.execute(req, timeout: .seconds(60)) else { return -1 }
                        _ = try? await r.body.collect(upTo: 1 << 20)
                        return Int(r.status.code)
                    }
                }
                return await g.reduce(into: [Int: Int]()) { $0[$1, default: 0] += 1 }
            }
            try await client.shutdown()
            #expect(Set(statuses.keys).isSubset(of: [200, 402, 429]), "\(statuses)")
            #expect((statuses[200] ?? 0) > 0 && (statuses[402] ?? 0) > 0, "\(statuses)")

            await s.gateway.usage.flush()
            let stored = try #require(try await s.gateway.storage.walletBalances()[t.id])
            #expect(stored >= 0 && stored < 10_000_000, "balance \(stored)")
            let (memory, held) = s.gateway.wallets.balance(t.id)
            #expect(memory == stored && held == 0, "in memory \(memory) held \(held), stored \(stored)")
            // Each served request: one usage entry on the ledger; plus the top-up's entry.
            let entries = try await s.gateway.storage.ledgerEntries(tenantId: t.id)
            #expect(entries.count == (statuses[200] ?? 0) + 1)
            #expect(try await s.gateway.ledger.verify(tenantId: t.id).breaks.isEmpty)
            let wallet = try await s.send("GET", "/admin/v1/tenants/\(t.id)/wallet", key: t.admin)
            #expect(wallet.json["balance_nano"]?.intValue == Int(stored) && wallet.json["held_nano"]?.intValue == 0)
        }
    }
}
