import LucairWire

/// One canonical record per request: who, what served it, every token kind, the unit prices used
/// and the integer cost. The ledger (metering issue) chains these records as they are.
public struct UsageRecord: Sendable, Equatable, Codable {
    public var requestId: String
    public var tenantId: String
    public var keyId: String
    public var endpoint: String
    public var tier: String
    public var model: String
    public var deployment: String
    public var stream: Bool
    /// HTTP status the client saw (200 for a stream that ended with an error event is recorded as 502).
    public var status: Int
    public var errorType: String?
    public var inputTokens: Int
    public var cachedInputTokens: Int
    public var cacheWriteTokens: Int
    public var outputTokens: Int
    public var reasoningTokens: Int
    public var estimated: Bool
    public var priceVersion: String
    public var unitPrice: ModelPrice
    public var costNano: NanoUSD
    public var queueMicros: Int64
    public var ttftMicros: Int64
    public var totalMicros: Int64
    public var createdAtMillis: Int64
    /// For a prepaid (external) tenant: what the wallet pays for this request, written as a
    /// transfer with the record; nil for tenants that only meter. Not a usage_records column.
    public var walletCharge: NanoUSD?
    /// The tier the request was resolved to when a higher one served it (its own were busy or failing).
    public var spilledFrom: String?

    public init(requestId: String, tenantId: String, keyId: String, endpoint: String, tier: String, model: String,
                deployment: String, stream: Bool, status: Int, errorType: String?, usage: TokenUsage,
                priceVersion: String, unitPrice: ModelPrice, queueMicros: Int64, ttftMicros: Int64,
                totalMicros: Int64, createdAtMillis: Int64) {
        self.requestId = requestId
        self.tenantId = tenantId
        self.keyId = keyId
        self.endpoint = endpoint
        self.tier = tier
        self.model = model
        self.deployment = deployment
        self.stream = stream
        self.status = status
        self.errorType = errorType
        inputTokens = usage.inputTokens
        cachedInputTokens = usage.cachedInputTokens
        cacheWriteTokens = usage.cacheWriteTokens
        outputTokens = usage.outputTokens
        reasoningTokens = usage.reasoningTokens
        estimated = usage.estimated
        self.priceVersion = priceVersion
        self.unitPrice = unitPrice
        costNano = unitPrice.cost(usage)
        self.queueMicros = queueMicros
        self.ttftMicros = ttftMicros
        self.totalMicros = totalMicros
        self.createdAtMillis = createdAtMillis
    }

    public var usage: TokenUsage {
        TokenUsage(input: inputTokens, cachedInput: cachedInputTokens, cacheWrite: cacheWriteTokens,
                   output: outputTokens, reasoning: reasoningTokens, estimated: estimated)
    }
}
