import ArgumentParser
import Foundation
import LucairFakes

/// Fake OpenAI-compatible and Anthropic upstreams for tests and benchmarks. Per-request behaviour
/// is scripted with a `[fake key=value …]` directive in the last user message (see FakeScript).
@main
struct FakeUpstream: AsyncParsableCommand {
    @Option var host = "127.0.0.1"
    @Option(help: "Port (0 picks a free one; the chosen port is printed).") var port = 9100
    @Option(help: "Default delay before answering, ms.") var latencyMs = 0
    @Option(help: "Default number of content chunks.") var chunks = 4
    @Option(help: "Default delay between streamed chunks, ms.") var chunkDelayMs = 0

    func run() async throws {
        var d = FakeScript()
        d.latencyMs = latencyMs
        d.chunks = chunks
        d.chunkDelayMs = chunkDelayMs
        let app = FakeServer.build(host: host, port: port, defaults: d) { port in
            // Written unbuffered: scripts read this line from a pipe to learn the port.
            FileHandle.standardOutput.write(Data("fake upstream listening on http://\(host):\(port)\n".utf8))
        }
        try await app.runService()
    }
}
