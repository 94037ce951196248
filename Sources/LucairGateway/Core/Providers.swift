import AsyncHTTPClient
import LucairCore
import LucairUpstreams

/// One provider per upstream kind; each deployment has its own HTTP client (its connection pool,
/// its connect and idle timeouts), `client` serves anything else. Whole answers from plain-HTTP
/// upstreams go through one `KeepAliveClient` (the lean path, with each deployment's timeouts).
struct Providers: Sendable {
    let openAI: OpenAICompatibleProvider
    let anthropic: AnthropicProvider
    let clients: [String: HTTPClient]
    let lean = KeepAliveClient()

    init(client: HTTPClient, deployments: [Deployment], configuration: HTTPClient.Configuration) {
        var clients: [String: HTTPClient] = [:]
        for d in deployments {
            var c = configuration
            c.timeout = .init(connect: .milliseconds(Int64(d.connectTimeoutMs)), read: .milliseconds(Int64(d.idleTimeoutMs)))
            clients[d.name] = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
        }
        self.clients = clients
        openAI = OpenAICompatibleProvider(client: client, perDeployment: clients, lean: lean)
        anthropic = AnthropicProvider(client: client, perDeployment: clients, lean: lean)
    }

    func shutdown() async {
        lean.shutdown()
        for c in clients.values { try? await c.shutdown() }
    }

    func provider(for d: Deployment) -> any ChatProvider {
        switch d.kind {
        case .openAICompatible: openAI
        case .anthropic: anthropic
        }
    }
}
