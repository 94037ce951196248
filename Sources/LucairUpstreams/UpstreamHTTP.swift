import AsyncHTTPClient
import LucairCore
import LucairWire
import NIOCore
import NIOHTTP1

/// The HTTP exchange both upstream kinds share: POST JSON, map failures, hand back the response.
/// Each deployment has its own client (`clients`), built with its connect and idle timeouts: the
/// idle timeout is the client's read timeout, so it bounds the wait for the answer and every gap
/// between stream chunks. The head of a stream must arrive within the first-byte timeout, a whole
/// non-streaming answer within the total timeout.
struct UpstreamHTTP: Sendable {
    let client: HTTPClient
    let clients: [String: HTTPClient]
    static let maxErrorBody = 64 * 1024
    static let maxBody = 64 * 1024 * 1024

    func post(url: String, headers: [(String, String)], body: JSONValue, deployment: Deployment, stream: Bool = false) async throws -> HTTPClientResponse {
        var req = HTTPClientRequest(url: url)
        req.method = .POST
        req.headers.add(name: "content-type", value: "application/json")
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        req.body = .bytes(ByteBuffer(bytes: body.serialized()))
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

    func json(_ response: HTTPClientResponse, deployment: Deployment) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await response.body.collect(upTo: Self.maxBody)
        } catch {
            throw UpstreamErrors.transport(error, deployment: deployment.name)
        }
        guard let json = try? JSON.parse(bytes: buffer.readableBytesView) else {
            throw GatewayError(status: 502, type: "upstream_error", code: "upstream_bad_response",
                               message: "Deployment '\(deployment.name)' answered with something that is not JSON.",
                               origin: .upstream(deployment: deployment.name), retryable: true)
        }
        return json
    }
}
