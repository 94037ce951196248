import LucairWire

/// Quotas and rate limits. `nil` means unlimited. Stored as JSON on the tenant and on each key;
/// a request must pass both.
public struct Limits: Sendable, Equatable {
    public var rpm: Int?
    public var tpm: Int?
    public var maxConcurrent: Int?
    public var dailySpendCapNano: NanoUSD?
    public var monthlySpendCapNano: NanoUSD?

    public init(rpm: Int? = nil, tpm: Int? = nil, maxConcurrent: Int? = nil, dailySpendCapNano: NanoUSD? = nil, monthlySpendCapNano: NanoUSD? = nil) {
        self.rpm = rpm
        self.tpm = tpm
        self.maxConcurrent = maxConcurrent
        self.dailySpendCapNano = dailySpendCapNano
        self.monthlySpendCapNano = monthlySpendCapNano
    }

    public static let keys = ["rpm", "tpm", "max_concurrent", "daily_spend_cap_nano_usd", "monthly_spend_cap_nano_usd"]

    public var json: JSONValue {
        var o: JSONObject = [:]
        if let rpm { o["rpm"] = .int(rpm) }
        if let tpm { o["tpm"] = .int(tpm) }
        if let maxConcurrent { o["max_concurrent"] = .int(maxConcurrent) }
        if let dailySpendCapNano { o["daily_spend_cap_nano_usd"] = .int(dailySpendCapNano) }
        if let monthlySpendCapNano { o["monthly_spend_cap_nano_usd"] = .int(monthlySpendCapNano) }
        return .object(o)
    }

    /// Reads the JSON form; throws a message naming the bad field.
    public init(json: JSONValue?, path: String = "limits") throws(InvalidRequest) {
        self.init()
        guard let json, !json.isNull else { return }
        guard case .object(let o) = json else { throw InvalidRequest("'\(path)' must be an object.", param: path) }
        for k in o.keys where !Self.keys.contains(k) {
            throw InvalidRequest("Unknown field '\(path).\(k)'. Known: \(Self.keys.joined(separator: ", ")).", param: "\(path).\(k)")
        }
        func int(_ k: String) throws(InvalidRequest) -> Int? {
            guard let v = o[k], !v.isNull else { return nil }
            guard let i = v.intValue, i >= 0 else { throw InvalidRequest("'\(path).\(k)' must be a non-negative integer or null.", param: "\(path).\(k)") }
            return i
        }
        rpm = try int("rpm")
        tpm = try int("tpm")
        maxConcurrent = try int("max_concurrent")
        dailySpendCapNano = try int("daily_spend_cap_nano_usd").map { NanoUSD($0) }
        monthlySpendCapNano = try int("monthly_spend_cap_nano_usd").map { NanoUSD($0) }
    }

    /// A daily or monthly spend cap is set.
    public var hasSpendCap: Bool { dailySpendCapNano != nil || monthlySpendCapNano != nil }

    /// Fields set here win over `base`.
    public func over(_ base: Limits) -> Limits {
        Limits(rpm: rpm ?? base.rpm, tpm: tpm ?? base.tpm, maxConcurrent: maxConcurrent ?? base.maxConcurrent,
               dailySpendCapNano: dailySpendCapNano ?? base.dailySpendCapNano, monthlySpendCapNano: monthlySpendCapNano ?? base.monthlySpendCapNano)
    }
}

/// What a key may do beyond its tenant's plan: endpoints, tiers, models, source addresses.
/// Empty lists mean "whatever the plan allows".
public struct KeyScopes: Sendable, Equatable {
    public var endpoints: [String] = []
    public var tiers: [Tier] = []
    public var models: [String] = []
    /// Exact IPv4/IPv6 addresses or CIDR blocks.
    public var ipAllowList: [String] = []
    /// The router's quality bar for this key; nil = the plan's.
    public var qualityBar: Double?

    public init(endpoints: [String] = [], tiers: [Tier] = [], models: [String] = [], ipAllowList: [String] = [], qualityBar: Double? = nil) {
        self.endpoints = endpoints
        self.tiers = tiers
        self.models = models
        self.ipAllowList = ipAllowList
        self.qualityBar = qualityBar
    }

    public static let knownEndpoints = ["chat.completions", "embeddings", "models", "route", "usage", "admin"]

    public var json: JSONValue {
        ["endpoints": .array(endpoints.map { .string($0) }), "tiers": .array(tiers.map { .string($0.rawValue) }),
         "models": .array(models.map { .string($0) }), "ip_allow_list": .array(ipAllowList.map { .string($0) }),
         "quality_bar": qualityBar.map { .double($0) } ?? .null]
    }

    public init(json: JSONValue?, path: String = "scopes") throws(InvalidRequest) {
        guard let json, !json.isNull else { return }
        guard case .object(let o) = json else { throw InvalidRequest("'\(path)' must be an object.", param: path) }
        func strings(_ k: String) throws(InvalidRequest) -> [String] {
            guard let v = o[k], !v.isNull else { return [] }
            guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                throw InvalidRequest("'\(path).\(k)' must be an array of strings.", param: "\(path).\(k)")
            }
            return a.compactMap(\.stringValue)
        }
        for k in o.keys where !["endpoints", "tiers", "models", "ip_allow_list", "quality_bar"].contains(k) {
            throw InvalidRequest("Unknown field '\(path).\(k)'. Known: endpoints, tiers, models, ip_allow_list, quality_bar.", param: "\(path).\(k)")
        }
        if let q = o["quality_bar"], !q.isNull {
            guard let d = q.doubleValue, (0...1).contains(d) else {
                throw InvalidRequest("'\(path).quality_bar' must be a number between 0 and 1.", param: "\(path).quality_bar")
            }
            qualityBar = d
        }
        endpoints = try strings("endpoints")
        for e in endpoints where !Self.knownEndpoints.contains(e) {
            throw InvalidRequest("Unknown endpoint '\(e)' in '\(path).endpoints'. Known: \(Self.knownEndpoints.joined(separator: ", ")).", param: "\(path).endpoints")
        }
        var ts: [Tier] = []
        for t in try strings("tiers") {
            guard let tier = Tier(rawValue: t) else { throw InvalidRequest("Unknown tier '\(t)' in '\(path).tiers'.", param: "\(path).tiers") }
            ts.append(tier)
        }
        tiers = ts
        models = try strings("models")
        ipAllowList = try strings("ip_allow_list")
        for ip in ipAllowList where IPMatcher(ip) == nil {
            throw InvalidRequest("'\(ip)' in '\(path).ip_allow_list' is not an IP address or CIDR block.", param: "\(path).ip_allow_list")
        }
    }

    public func allows(endpoint: String) -> Bool { endpoints.isEmpty || endpoints.contains(endpoint) }

    /// `ip` is formatted only for a key with an allow-list (the request path's common case has none).
    public func allows(ip: @autoclosure () -> String?) -> Bool {
        guard !ipAllowList.isEmpty else { return true }
        guard let ip = ip() else { return false }
        return ipAllowList.contains { IPMatcher($0)?.matches(ip) ?? false }
    }
}

/// A plan: the ladder's ceiling, default limits and the quality bar. Plans are configuration.
public struct Plan: Sendable, Equatable {
    public var name: String
    /// The highest tier the plan's requests may reach (Starter: fast, for escalation only).
    public var ceiling: Tier
    /// The tier `auto` starts from.
    public var floor: Tier
    public var limits: Limits
    /// The minimum probability that a tier is good enough (used by the router).
    public var qualityBar: Double

    public init(name: String, ceiling: Tier, floor: Tier = .baseline, limits: Limits = Limits(), qualityBar: Double = 0.6) {
        self.name = name
        self.ceiling = ceiling
        self.floor = floor
        self.limits = limits
        self.qualityBar = qualityBar
    }

    public static let defaults: [String: Plan] = [
        "starter": Plan(name: "starter", ceiling: .fast, limits: Limits(rpm: 60, tpm: 200_000, maxConcurrent: 8), qualityBar: 0.6),
        "pro": Plan(name: "pro", ceiling: .balanced, limits: Limits(rpm: 600, tpm: 2_000_000, maxConcurrent: 64), qualityBar: 0.6),
        "enterprise": Plan(name: "enterprise", ceiling: .frontier, limits: Limits(), qualityBar: 0.7),
    ]

    public func allows(_ tier: Tier) -> Bool { tier <= ceiling }
}

/// Matches an address against an exact address or a CIDR block (IPv4 and IPv6).
public struct IPMatcher: Sendable {
    let bytes: [UInt8]
    let prefix: Int

    public init?(_ spec: String) {
        let parts = spec.split(separator: "/", maxSplits: 1)
        guard let b = IPMatcher.parse(String(parts[0])) else { return nil }
        bytes = b
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= b.count * 8 else { return nil }
            prefix = p
        } else {
            prefix = b.count * 8
        }
    }

    public func matches(_ address: String) -> Bool {
        guard var a = IPMatcher.parse(address) else { return false }
        // IPv4-mapped IPv6 (::ffff:a.b.c.d) compares as IPv4.
        if a.count == 16, bytes.count == 4, a[0..<10].allSatisfy({ $0 == 0 }), a[10] == 0xFF, a[11] == 0xFF { a = Array(a[12...]) }
        guard a.count == bytes.count else { return false }
        var bits = prefix
        for i in 0..<bytes.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if a[i] & mask != bytes[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    static func parse(_ s: String) -> [UInt8]? {
        if s.contains(":") {
            let halves = s.components(separatedBy: "::")
            guard halves.count <= 2 else { return nil }
            func groups(_ h: String) -> [UInt16]? {
                h.isEmpty ? [] : h.split(separator: ":", omittingEmptySubsequences: false).map { UInt16($0, radix: 16) }.reduce(into: [UInt16]?([])) { acc, g in
                    guard let g, acc != nil else { acc = nil; return }
                    acc!.append(g)
                }
            }
            guard let head = groups(halves[0]) else { return nil }
            let tail = halves.count == 2 ? groups(halves[1]) : []
            guard let tail else { return nil }
            let missing = 8 - head.count - tail.count
            guard halves.count == 2 ? missing >= 0 : missing == 0 else { return nil }
            let all = head + Array(repeating: 0, count: missing) + tail
            return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }
        let octets = s.split(separator: ".").map { UInt8($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil }) else { return nil }
        return octets.map { $0! }
    }
}
