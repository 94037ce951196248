import AsyncHTTPClient
import LucairCore
import LucairUpstreams

/// One provider per upstream kind, sharing one HTTP client (and its connection pools).
struct Providers: Sendable {
    let openAI: OpenAICompatibleProvider
    let anthropic: AnthropicProvider

    init(client: HTTPClient) {
        openAI = OpenAICompatibleProvider(client: client)
        anthropic = AnthropicProvider(client: client)
    }

    func provider(for d: Deployment) -> any ChatProvider {
        switch d.kind {
        case .openAICompatible: openAI
        case .anthropic: anthropic
        }
    }
}
