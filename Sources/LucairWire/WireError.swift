/// A problem with what the client sent, in the terms of OpenAI's error object. HTTP status 400
/// unless `status` says otherwise.
public struct InvalidRequest: Error, Sendable, Equatable {
    public var message: String
    public var param: String?
    public var code: String?
    public var status: Int

    public init(_ message: String, param: String? = nil, code: String? = nil, status: Int = 400) {
        self.message = message
        self.param = param
        self.code = code
        self.status = status
    }
}
