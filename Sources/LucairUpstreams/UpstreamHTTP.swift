import AsyncHTTPClient
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// The HTTP exchange both upstream kinds share: POST JSON, map failures, hand back the response.
/// Each deployment has its own client (`clients`), built with its connect and idle timeouts: the
/// idle timeout is the client's read timeout, so it bounds the wait for the answer and every gap
/// between stream chunks. The head of a stream must arrive within the first-byte timeout, a whole
/// non-streaming answer within the total timeout. Whole answers and streams from plain-HTTP
/// upstreams go through `lean` (`KeepAliveClient`) when it is given, with the same three bounds.
struct UpstreamHTTP: Sendable {
    let client: HTTPClient
    let clients: [String: HTTPClient]
    let lean: KeepAliveClient?
    static let maxErrorBody = 64 * 1024
    static let maxBody = 64 * 1024 * 1024

    /// Opens a stream: returns its body once the upstream answered 200, else throws what its error says.
    func stream(url: String, headers: [(String, String)], body: JSONValue, deployment d: Deployment) async throws -> UpstreamStream.Body {
        guard let lean, url.hasPrefix("http://") else {
            return .client(try await clientStream(url: url, headers: headers, body: body, deployment: d))
        }
        let headDeadline = NIODeadline.now() + .milliseconds(Int64(min(d.firstByteTimeoutMs, d.totalTimeoutMs)))
        switch try await viaLean(d, { connect, idle in
            try await lean.stream(url: url, headers: headers, body: body.serialized(sortingKeys: false),
                                  connectTimeout: connect, idleTimeout: idle, headDeadline: headDeadline)
        }) {
        case .streaming(_, _, let body): return .lean(body)
        case .whole(let r):  // never a 200
            throw UpstreamErrors.fromResponse(status: r.status, body: r.body, headers: r.headers, deployment: d.name)
        }
    }

    /// A call through `KeepAliveClient` with the deployment's connect and idle timeouts, its
    /// failures mapped as AsyncHTTPClient's are.
    func viaLean<T>(_ d: Deployment, _ call: (_ connect: TimeAmount, _ idle: TimeAmount) async throws -> T) async throws -> T {
        do {
            return try await call(.milliseconds(Int64(d.connectTimeoutMs)), .milliseconds(Int64(d.idleTimeoutMs)))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw UpstreamErrors.transport(error, deployment: d.name)
        }
    }

    /// A stream through AsyncHTTPClient (HTTPS upstreams): its head within the first-byte timeout.
    func clientStream(url: String, headers: [(String, String)], body: JSONValue, deployment: Deployment) async throws -> HTTPClientResponse.Body {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        req.body = .bytes(ByteBuffer(bytes: body.serialized(sortingKeys: false)))
        let response: HTTPClientResponse
        do {
            let deadline = min(deployment.firstByteTimeoutMs, deployment.totalTimeoutMs)
            response = try await (clients[deployment.name] ?? client).execute(req, timeout: .milliseconds(Int64(deadline)))
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw UpstreamErrors.transport(error, deployment: deployment.name)
        }
        guard response.status.code == 200 else {
            let errorBody = try? await response.body.collect(upTo: Self.maxErrorBody)
            throw UpstreamErrors.fromResponse(status: Int(response.status.code), body: errorBody, headers: response.headers, deployment: deployment.name)
        }
        return response.body
    }

    /// A whole JSON answer (non-streaming calls, embeddings). Uses AsyncHTTPClient's
    /// future-based API with its accumulator, which collects the body in the channel's handlers:
    /// fewer async hand-offs per request than streaming the body through `HTTPClientResponse`
    /// (docs/benchmarks.md, profile). Cancelling the caller cancels the call.
    func postJSON(url: String, headers: [(String, String)], body: JSONValue, deployment: Deployment) async throws -> JSONValue {
        if let lean, url.hasPrefix("http://") {
            return try await postJSON(lean, url: url, headers: headers, body: body, deployment: deployment)
        }
        let client = clients[deployment.name] ?? client
        let request: HTTPClient.Request
        do {
            var h = HTTPHeaders([("content-type", "application/json")])
            h.add(contentsOf: headers)
            request = try HTTPClient.Request(url: url, method: .POST, headers: h, body: .bytes(body.serialized(sortingKeys: false)))
        } catch {
            throw UpstreamErrors.transport(error, deployment: deployment.name)
        }
        let task = client.execute(request: request, delegate: ResponseAccumulator(request: request, maxBodySize: Self.maxBody),
                                  deadline: .now() + .milliseconds(Int64(deployment.totalTimeoutMs)))
        let response: HTTPClient.Response
        do {
            response = try await withTaskCancellationHandler { try await task.futureResult.get() } onCancel: { task.cancel() }
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw UpstreamErrors.transport(error, deployment: deployment.name)
        }
        return try Self.answer(status: Int(response.status.code), headers: response.headers, body: response.body, deployment: deployment)
    }

    func postJSON(_ lean: KeepAliveClient, url: String, headers: [(String, String)], body: JSONValue, deployment d: Deployment) async throws -> JSONValue {
        let deadline = NIODeadline.now() + .milliseconds(Int64(d.totalTimeoutMs))
        let response = try await viaLean(d) { connect, idle in
            try await lean.post(url: url, headers: headers, body: body.serialized(sortingKeys: false),
                                connectTimeout: connect, idleTimeout: idle, deadline: deadline)
        }
        return try Self.answer(status: response.status, headers: response.headers, body: response.body, deployment: d)
    }

    /// A whole answer, from either client: its JSON, or the error its status and body say.
    static func answer(status: Int, headers: HTTPHeaders, body: ByteBuffer?, deployment d: Deployment) throws -> JSONValue {
        guard status == 200 else {
            throw UpstreamErrors.fromResponse(status: status, body: body.map { $0.getSlice(at: $0.readerIndex, length: min($0.readableBytes, maxErrorBody)) ?? $0 },
                                              headers: headers, deployment: d.name)
        }
        guard let body, let json = try? JSON.parse(bytes: body.readableBytesView) else { throw notJSON(d) }
        return json
    }

    static func notJSON(_ deployment: Deployment) -> GatewayError {
        GatewayError(status: 502, type: "upstream_error", code: "upstream_bad_response",
                     message: "Deployment '\(deployment.name)' answered with something that is not JSON.",
                     origin: .upstream(deployment: deployment.name), retryable: true)
    }
}
