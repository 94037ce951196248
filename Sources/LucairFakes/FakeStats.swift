import LucairWire
import Synchronization

/// What a fake saw, for assertions: request counts, the last bodies, streams the client cut off.
public final class FakeStats: Sendable {
    struct State {
        var requests = 0
        var cancelledStreams = 0
        var lastOpenAI: JSONValue = nil
        var lastAnthropic: JSONValue = nil
        var lastHeaders: [String: String] = [:]
    }

    let state = Mutex(State())

    public init() {}

    func saw(openAI body: JSONValue) { state.withLock { $0.requests += 1; $0.lastOpenAI = body } }
    func saw(anthropic body: JSONValue, headers: [String: String]) {
        state.withLock { $0.requests += 1; $0.lastAnthropic = body; $0.lastHeaders = headers }
    }
    func cancelled() { state.withLock { $0.cancelledStreams += 1 } }

    public var requests: Int { state.withLock { $0.requests } }
    public var cancelledStreams: Int { state.withLock { $0.cancelledStreams } }
    public var lastAnthropic: JSONValue { state.withLock { $0.lastAnthropic } }
    public var lastOpenAI: JSONValue { state.withLock { $0.lastOpenAI } }

    public var json: JSONValue {
        state.withLock { s in
            ["requests": .int(s.requests), "cancelled_streams": .int(s.cancelledStreams),
             "last_openai": s.lastOpenAI, "last_anthropic": s.lastAnthropic,
             "last_headers": .object(s.lastHeaders.mapValues { .string($0) })]
        }
    }

    public func reset() { state.withLock { $0 = State() } }
}
