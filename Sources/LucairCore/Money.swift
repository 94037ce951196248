import LucairWire

/// Money is integer nano-USD (1e-9 USD) everywhere. Int64 holds ±9.2 billion USD.
public typealias NanoUSD = Int64

public enum Money {
    public static let nanoPerCent: Int64 = 10_000_000

    /// Rounds to whole cents, half away from zero. Used once, at display and payment time.
    public static func cents(_ nano: NanoUSD) -> Int64 {
        let half = nanoPerCent / 2
        return nano >= 0 ? (nano + half) / nanoPerCent : -((-nano + half) / nanoPerCent)
    }

    /// "$1.23" from nano-USD, rounded to cents.
    public static func display(_ nano: NanoUSD) -> String {
        let c = cents(nano)
        let sign = c < 0 ? "-" : ""
        let a = abs(c)
        let frac = a % 100
        return "\(sign)$\(a / 100).\(frac < 10 ? "0" : "")\(frac)"
    }

    /// Exact decimal USD string from nano-USD ("0.000123450"), for headers and records.
    /// Digits written right to left into one small buffer (every answer carries this twice; string
    /// interpolation took five allocations).
    public static func usdString(_ nano: NanoUSD) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buf in  // sign, 10 digits, point, 9 digits at most
            var i = buf.count, a = nano.magnitude
            func digit() { i -= 1; buf[i] = UInt8(ascii: "0") + UInt8(a % 10); a /= 10 }
            for _ in 0..<9 { digit() }
            i -= 1; buf[i] = UInt8(ascii: ".")
            repeat { digit() } while a > 0
            if nano < 0 { i -= 1; buf[i] = UInt8(ascii: "-") }
            return String(decoding: UnsafeBufferPointer(rebasing: buf[i...]), as: UTF8.self)
        }
    }
}

/// Unit prices of one model, nano-USD per token.
public struct ModelPrice: Sendable, Equatable, Codable {
    public var input: NanoUSD
    public var cachedInput: NanoUSD
    public var cacheWrite: NanoUSD
    public var output: NanoUSD

    public init(input: NanoUSD, cachedInput: NanoUSD, cacheWrite: NanoUSD, output: NanoUSD) {
        self.input = input
        self.cachedInput = cachedInput
        self.cacheWrite = cacheWrite
        self.output = output
    }

    /// The cost of a call. Reasoning tokens are part of output tokens and priced as output.
    public func cost(_ u: TokenUsage) -> NanoUSD {
        NanoUSD(u.inputTokens) * input + NanoUSD(u.cachedInputTokens) * cachedInput
            + NanoUSD(u.cacheWriteTokens) * cacheWrite + NanoUSD(u.outputTokens) * output
    }
}

/// One dated version of the price list.
public struct PriceTable: Sendable, Equatable {
    public var version: String
    /// ISO date (YYYY-MM-DD) from which this table applies.
    public var effective: String
    public var models: [String: ModelPrice]

    public init(version: String, effective: String, models: [String: ModelPrice]) {
        self.version = version
        self.effective = effective
        self.models = models
    }
}

/// All configured price tables; the one in force is the newest whose date has come.
public struct PriceBook: Sendable {
    public var tables: [PriceTable]

    public init(tables: [PriceTable]) { self.tables = tables.sorted { $0.effective < $1.effective } }

    public func table(onISODate date: String) -> PriceTable? {
        tables.last { $0.effective <= date } ?? tables.first
    }

    public func price(model: String, onISODate date: String) -> (version: String, price: ModelPrice)? {
        guard let t = table(onISODate: date), let p = t.models[model] else { return nil }
        return (t.version, p)
    }
}
