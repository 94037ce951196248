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
        /// What `/metrics` and `/slots` report, as llama.cpp's server would (set by tests).
        var engineSlots = 0  // no slots reported: nothing discovered unless a test asks
        var engineDeferred = 0
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
             "last_headers": .object(JSONObject(s.lastHeaders.map { ($0.key, JSONValue.string($0.value)) }))]
        }
    }

    public func reset() { state.withLock { $0 = State() } }

    public func setEngine(slots: Int? = nil, deferred: Int? = nil) {
        state.withLock { s in
            if let slots { s.engineSlots = slots }
            if let deferred { s.engineDeferred = deferred }
        }
    }

    /// llama.cpp's `/metrics` (Prometheus text) and `/slots` (one object per slot).
    var engineMetrics: String {
        state.withLock { s in
            "# HELP llamacpp:requests_processing Number of requests processing.\n# TYPE llamacpp:requests_processing gauge\n"
                + "llamacpp:requests_processing 0\n# TYPE llamacpp:requests_deferred gauge\nllamacpp:requests_deferred \(s.engineDeferred)\n"
        }
    }

    var engineSlotsJSON: JSONValue {
        .array((0..<state.withLock { $0.engineSlots }).map { ["id": .int($0), "is_processing": false] })
    }
}
