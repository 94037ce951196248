import Foundation
import LucairCore
import LucairWire
import Testing

@Suite(.timeLimit(.minutes(3))) struct GatewayTests {
    @Test func nonStreamingIsServedMeteredAndExplained() async throws {
        try await TestStack.with { s in
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hello [fake cache_read=8]"))
            #expect(r.status == 200)
            #expect(r.headers["x-lucair-tier"] == "baseline")
            #expect(r.headers["x-lucair-deployment"] == "fake-local")
            #expect(r.headers["x-lucair-route-reason"] == "tier_alias")
            let rid = try #require(r.headers["x-lucair-request-id"])
            let rec = try #require(try await s.record(rid))
            #expect(rec.cachedInputTokens == 8)
            #expect(rec.inputTokens > 0 && rec.outputTokens == 4 && !rec.estimated)
            #expect(rec.costNano == Int64(rec.inputTokens) * 200 + 8 * 20 + Int64(rec.outputTokens) * 1000)
            #expect(r.headers["x-lucair-cost-nano-usd"] == String(rec.costNano))
            #expect(r.json["lucair"]?["cost"]?["nano_usd"]?.intValue == Int(rec.costNano))
            #expect(rec.priceVersion == "test-v1" && rec.unitPrice.output == 1000 && rec.status == 200)
        }
    }

    @Test func streamingAndNonStreamingBillIdentically() async throws {
        try await TestStack.with { s in
            let content = "same tokens please [fake cache_read=30 cache_write=12]"
            let plain = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/fast", content: content))
            let streamed = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/fast", content: content, stream: true))
            #expect(plain.status == 200 && streamed.status == 200)
            let a = try #require(try await s.record(plain.headers["x-lucair-request-id"]!))
            let b = try #require(try await s.record(streamed.headers["x-lucair-request-id"]!))
            #expect(a.usage == b.usage)
            #expect(a.costNano == b.costNano)
            #expect((a.cachedInputTokens, a.cacheWriteTokens) == (30, 12))
            // Anthropic's prices: input, cache reads at 0.1x, cache writes at 1.25x, output.
            #expect(a.costNano == Int64(a.inputTokens) * 1000 + 30 * 100 + 12 * 1250 + Int64(a.outputTokens) * 5000)
            // No include_usage: no usage chunk, but [DONE].
            let events = TestStack.events(streamed.body)
            #expect(events.last == "[DONE]")
            #expect(!events.contains { $0.contains("\"usage\"") })
        }
    }

    @Test func usageChunkOnlyWhenAsked() async throws {
        try await TestStack.with { s in
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi", stream: true, includeUsage: true))
            let events = TestStack.events(r.body).dropLast().compactMap { try? JSON.parse($0) }
            let usageChunks = events.filter { $0["usage"] != nil }
            #expect(usageChunks.count == 1)
            #expect(usageChunks.first?["choices"] == [])
            #expect(usageChunks.first == events.last)
            // The engine was asked for usage even though... here the client asked too; see next test for the other case.
            #expect(s.stats.lastOpenAI["stream_options"]?["include_usage"] == true)
        }
    }

    @Test func engineIsAlwaysAskedForUsage() async throws {
        try await TestStack.with { s in
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi", stream: true))
            #expect(r.status == 200)
            #expect(s.stats.lastOpenAI["stream_options"]?["include_usage"] == true)
            let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
            #expect(!rec.estimated && rec.outputTokens > 0)
        }
    }

    @Test func missingUsageIsEstimatedAndMarked() async throws {
        try await TestStack.with { s in
            for stream in [false, true] {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "count me [fake no_usage=1]", stream: stream))
                #expect(r.status == 200)
                let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
                #expect(rec.estimated)
                #expect(rec.inputTokens > 0 && rec.outputTokens > 0)
            }
        }
    }

    @Test func fallsThroughToTheNextDeploymentOfTheTier() async throws {
        // A dead port first, then the fake: the request still succeeds.
        let tweak = TestStack.tweak { _ in "[[tiers.baseline.deployments]]\nname = \"dead-local\"\nkind = \"openai_compatible\"\nurl = \"http://127.0.0.1:1/v1\"\nmodel = \"ministral-8b\"" }
        try await TestStack.with(tweak: tweak) { s in
            let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "hi"))
            #expect(r.status == 200)
            #expect(r.headers["x-lucair-deployment"] == "fake-local")
        }
    }

    @Test func upstreamErrorsMapToOpenAIShapes() async throws {
        try await TestStack.with { s in
            let cases: [(String, Int, String?)] = [
                ("lucair/fast", 503, "upstream_overloaded"),  // 529
                ("lucair/fast", 429, "upstream_rate_limited"),
                ("lucair/fast", 400, "invalid_request_error"),
                ("lucair/fast", 502, "upstream_auth_failed"),  // 401: the operator's problem, not the client's
                ("lucair/baseline", 502, "upstream_error"),  // 500
            ]
            let statuses = [529, 429, 400, 401, 500]
            for ((model, expected, code), upstream) in zip(cases, statuses) {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: model, content: "x [fake status=\(upstream) retry_after=7]"))
                #expect(r.status == expected, "upstream \(upstream)")
                #expect(r.json["error"]?["code"]?.stringValue == code, "upstream \(upstream)")
                #expect(r.json["error"]?["message"]?.stringValue?.contains("test-anthropic-key") == false)
                if upstream == 529 || upstream == 429 { #expect(r.headers["retry-after"] == "7") }
            }
        }
    }

    @Test func brokenUpstreamStreamEndsWithAnErrorEventAndIsMetered() async throws {
        try await TestStack.with { s in
            for (model, directive) in [("lucair/baseline", "disconnect_after=3"), ("lucair/fast", "error_after=4")] {
                // Chunks spaced out: a disconnect that arrives with the data may drop it client-side.
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: model, content: "x [fake chunks=10 chunk_delay_ms=5 \(directive)]", stream: true))
                #expect(r.status == 200)
                let events = TestStack.events(r.body)
                #expect(events.contains { $0.contains("\"error\"") }, "\(model): \(events)")
                #expect(events.last == "[DONE]")
                let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
                #expect(rec.status >= 500 && rec.estimated && rec.outputTokens > 0)
            }
        }
    }

    /// Chunks and the error event that ends them can come in one read from the upstream: the
    /// chunks still reach the client, before the error, and are metered.
    @Test func contentBeforeAnUpstreamErrorInTheSameReadReachesTheClient() async throws {
        try await TestStack.with { s in
            for model in ["lucair/baseline", "lucair/fast"] {  // OpenAI's error chunk, Anthropic's error event
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: model, content: "x [fake chunks=10 error_after=4]", stream: true))
                let events = TestStack.events(r.body)
                let error = try #require(events.firstIndex { $0.contains("\"error\"") }, "\(model): \(events)")
                let content = events[..<error].compactMap { try? JSON.parse($0)["choices"]?[0]?["delta"]?["content"]?.stringValue }.filter { !$0.isEmpty }
                #expect(!content.isEmpty, "\(model): the content chunks before the error, got \(events)")
                let rec = try #require(try await s.record(r.headers["x-lucair-request-id"]!))
                #expect(rec.status >= 500 && rec.outputTokens > 0)
            }
        }
    }

    @Test func clientDisconnectCancelsTheUpstreamCall() async throws {
        try await TestStack.with { s in
            var req = HTTPClientRequest(url: s.url + "/v1/chat/completions")
            req.method = .POST
            req.headers.add(name: "content-type", value: "application/json")
            req.headers.add(name: "authorization", value: "Bearer \(TestStack.adminKey)")
            req.body = .bytes(ByteBuffer(string: TestStack.chatBody(model: "lucair/baseline", content: "slow [fake chunks=200 chunk_delay_ms=20]", stream: true)))
            let task = Task {
                let r = try await HTTPClient.shared.execute(req, timeout: .seconds(30))
                var n = 0
                for try await _ in r.body {
                    n += 1
                    if n == 2 { return }  // stop reading: the response is dropped, the connection closed
                }
            }
            _ = try? await task.value
            var cancelled = 0
            for _ in 0..<150 where cancelled == 0 {
                try await Task.sleep(for: .milliseconds(20))
                cancelled = s.stats.cancelledStreams
            }
            #expect(cancelled == 1)
            await s.gateway.usage.flush()
        }
    }

    @Test func badInputGetsClearOpenAIErrors() async throws {
        try await TestStack.with { s in
            let noKey = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x"), key: nil)
            #expect(noKey.status == 401 && noKey.json["error"]?["code"] == "missing_api_key")
            let badKey = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x"), key: "sk-luc-nope")
            #expect(badKey.status == 401 && badKey.json["error"]?["code"] == "invalid_api_key")
            let malformed = try await s.post("/v1/chat/completions", "{\"model\": ")
            #expect(malformed.status == 400 && malformed.json["error"]?["code"] == "invalid_json")
            let wrongType = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x"), contentType: "text/plain")
            #expect(wrongType.status == 415 && wrongType.json["error"]?["message"]?.stringValue?.contains("got 'text/plain'") == true)
            let short = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x"), contentType: "application/")
            #expect(short.status == 415)
            // Media types are case-insensitive (RFC 9110): this one is served.
            let upper = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: "x"), contentType: "Application/JSON; charset=utf-8")
            #expect(upper.status == 200)
            let unknown = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "gpt-17", content: "x"))
            #expect(unknown.status == 404 && unknown.json["error"]?["code"] == "model_not_found" && unknown.json["error"]?["param"] == "model")
            let big = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "auto", content: String(repeating: "a", count: 70_000)))
            #expect(big.status == 413 && big.json["error"]?["type"] == "invalid_request_error")
            let badParam = try await s.post("/v1/chat/completions", #"{"model":"auto","messages":[{"role":"user","content":"x"}],"top_p":"high"}"#)
            #expect(badParam.status == 400 && badParam.json["error"]?["param"] == "top_p")
            for r in [noKey, badKey, malformed, wrongType, unknown, big, badParam] {
                let e = r.json["error"]
                #expect(e?["message"]?.stringValue != nil && e?["type"]?.stringValue != nil && e?["param"] != nil && e?["code"] != nil)
            }
            #expect(s.stats.requests == 1)  // only the upper-case content type reached an upstream
        }
    }

    @Test func modelsHealthAndMetrics() async throws {
        try await TestStack.with { s in
            let models = try await s.get("/v1/models")
            let ids = (try JSON.parse(models.body))["data"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(ids == ["auto", "lucair/baseline", "lucair/fast", "ministral-8b", "claude-haiku-4-5"])
            _ = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "x"))
            let health = try JSON.parse(try await s.get("/health", key: nil).body)
            #expect(health["status"] == "ok" && health["storage"]?["migrations"] == [1, 2, 3, 4, 5, 6, 7, 8, 9])
            let metrics = try await s.get("/metrics", key: nil).body
            #expect(metrics.contains(#"lucair_requests_total{endpoint="chat.completions",tier="baseline",model="ministral-8b",status="200"} 1"#))
            #expect(metrics.contains("lucair_request_duration_seconds"))
        }
    }

    /// The usage writer shows on /metrics what an operator needs when metering falls behind: each
    /// batch's commit time and size, the records stored and dropped, and what still waits.
    @Test func usageWriterReportsItsCommits() async throws {
        try await TestStack.with { s in
            for i in 0..<3 {
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "metered \(i)"))
                #expect(r.status == 200)
            }
            await s.gateway.usage.flush()
            let metrics = try await s.get("/metrics", key: nil).body
            let lines = metrics.split(separator: "\n")
            func value(_ name: String) -> Double? {
                lines.first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
            }
            #expect(value("lucair_usage_records_stored_total") == 3)
            #expect(value("lucair_usage_records_dropped_total") == 0)
            #expect(value("lucair_usage_batch_records_sum") == 3)
            let commits = try #require(value("lucair_usage_commit_seconds_count"))
            #expect(commits >= 1 && commits <= 3)
            #expect(value("lucair_usage_batch_records_count") == commits)
            #expect(value("lucair_usage_pending") == 0)
        }
    }

    /// SIGTERM (a graceful shutdown) ends every background service at once: none may wait out
    /// its own interval (the memory trimmer's 30 s sleep once held every shutdown for 30 s).
    @Test func gracefulShutdownIsPrompt() async throws {
        var t0 = ContinuousClock.now
        try await TestStack.with { s in
            let health = try await s.get("/health", key: nil)
            #expect(health.status == 200)
            t0 = .now  // returning starts the shutdown; start-up is not what this measures
        }
        let took = ContinuousClock.now - t0
        #expect(took < .seconds(10), "the shutdown took \(took)")
    }

    /// Lucair's own time is reported without the upstream's: a 300 ms upstream does not show in
    /// the overhead header, but does in the request's duration.
    @Test func overheadExcludesTheUpstreamsTime() async throws {
        try await TestStack.with { s in
            for stream in [false, true] {
                let t0 = ContinuousClock.now
                let r = try await s.post("/v1/chat/completions", TestStack.chatBody(model: "lucair/baseline", content: "slow [fake latency_ms=300]", stream: stream))
                let elapsed = ContinuousClock.now - t0
                #expect(r.status == 200 && elapsed >= .milliseconds(300))
                let own = try #require(r.headers["x-lucair-overhead-us"].flatMap { Int($0) })
                // The upstream took ≥ 300 ms of the client's elapsed time, so Lucair's own time fits in
                // the rest (10 ms of slack for the two clocks), however long a loaded machine made it.
                #expect(own >= 0 && .microseconds(own) <= elapsed - .milliseconds(290),
                        "overhead \(own) µs must not include the upstream's 300 ms (elapsed \(elapsed), stream \(stream))")
            }
            let metrics = try await s.get("/metrics", key: nil).body
            #expect(metrics.contains(#"lucair_overhead_seconds_count{kind="complete"} 1"#))
            #expect(metrics.contains(#"lucair_overhead_seconds_count{kind="stream_open"} 1"#))
        }
    }

    @Test func embeddingsAreForwardedToTheLocalDeployment() async throws {
        try await TestStack.with(tweak: TestStack.withEmbeddings) { s in
            let r = try await s.post("/v1/embeddings", #"{"model":"local-embed","input":["a","bb"]}"#)
            #expect(r.status == 200)
            #expect(r.json["data"]?.arrayValue?.count == 2 && r.json["model"] == "local-embed")
            #expect(s.stats.lastOpenAI["model"] == "local-embed")
            let missing = try await s.post("/v1/embeddings", #"{"model":"nope","input":"a"}"#)
            #expect(missing.status == 404)
        }
    }
}

import AsyncHTTPClient
import NIOCore

@Suite(.timeLimit(.minutes(3))) struct EmbeddingsLimitTests {
    /// Embeddings go through the same key limits and metering as chat.
    @Test func embeddingsAreRateLimitedAndMetered() async throws {
        try await TestStack.with(tweak: TestStack.withEmbeddings) { s in
            let t = try await s.tenant("embedder")
            let k = try #require(try await s.send("POST", "/admin/v1/tenants/\(t.id)/keys", ["limits": ["rpm": 1]], key: TestStack.adminKey).json["key"]?.stringValue)
            try await TestStack.awayFromMinuteEdge()
            let first = try await s.send("POST", "/v1/embeddings", ["model": "local-embed", "input": "hello"], key: k)
            #expect(first.status == 200)
            let rid = try #require(first.headers["x-lucair-request-id"])
            let rec = try #require(try await s.record(rid))
            #expect(rec.endpoint == "embeddings" && rec.inputTokens > 0 && rec.tenantId == t.id)
            let second = try await s.send("POST", "/v1/embeddings", ["model": "local-embed", "input": "again"], key: k)
            #expect(second.status == 429 && second.json["error"]?["code"] == "rate_limit_exceeded")
        }
    }
}
