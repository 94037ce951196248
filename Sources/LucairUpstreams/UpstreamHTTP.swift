import AsyncHTTPClient
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// The HTTP exchange both upstream kinds share: POST JSON, map failures, hand back the response.
/// Each deployment has its own client (`clients`), built with its connect and idle timeouts: the
/// idle timeout is the client's read timeout, so it bounds the wait for the answer and every gap
/// between stream chunks. The head of a stream must arrive within the first-byte timeout, a whole
/// non-streaming answer within the total timeout. Whole answers from plain-HTTP upstreams go
/// through `lean` (`KeepAliveClient`) when it is given, with the same three bounds.
struct UpstreamHTTP: Sendable {
    let client: HTTPClient
    let clients: [String: HTTPClient]
    let lean: KeepAliveClient?
    static let maxErrorBody = 64 * 1024
    static let maxBody = 64 * 1024 * 1024

    /// Opens a stream: returns its body once the upstream answered 200, else throws what its error says.
    func stream(url: String, headers: [(String, String)], body: JSONValue, deployment d: Deployment) async throws -> UpstreamStream.Body {
        guard let lean, url.hasPrefix("http://") else {
            return .client(try await post(url: url, headers: headers, body: body, deployment: d, stream: true).body)
        }
        let streamed: KeepAliveClient.Streamed
        do {
            streamed = try await lean.stream(url: url, headers: headers, body: body.serialized(sortingKeys: false),
                                             connectTimeout: .milliseconds(Int64(d.connectTimeoutMs)), idleTimeout: .milliseconds(Int64(d.idleTimeoutMs)),
                                             headDeadline: .now() + .milliseconds(Int64(min(d.firstByteTimeoutMs, d.totalTimeoutMs))))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw UpstreamErrors.transport(error, deployment: d.name)
        }
        switch streamed {
        case .streaming(_, _, let body): return .lean(body)
        case .whole(let r):  // never a 200
            throw UpstreamErrors.fromResponse(status: r.status, body: r.body, headers: r.headers, deployment: d.name)
        }
    }

    func post(url: String, headers: [(String, String)], body: JSONValue, deployment: Deployment, stream: Bool = false) async throws -> HTTPClientResponse {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        req.body = .bytes(ByteBuffer(bytes: body.serialized(sortingKeys: false)))
        let response: HTTPClientResponse
        do {
            let deadline = stream ? min(deployment.firstByteTimeoutMs, deployment.totalTimeoutMs) : deployment.totalTimeoutMs
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
        return response
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
        let response: KeepAliveClient.Response
        do {
            response = try await lean.post(url: url, headers: headers, body: body.serialized(sortingKeys: false),
                                           connectTimeout: .milliseconds(Int64(d.connectTimeoutMs)), idleTimeout: .milliseconds(Int64(d.idleTimeoutMs)),
                                           deadline: .now() + .milliseconds(Int64(d.totalTimeoutMs)))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw UpstreamErrors.transport(error, deployment: d.name)
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
