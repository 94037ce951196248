/// The ladder, cheapest first. A request climbs only as far as its task needs, never above its
/// plan's ceiling.
public enum Tier: String, Sendable, CaseIterable, Comparable, Codable {
    case baseline, fast, balanced, frontier

    public static func < (a: Tier, b: Tier) -> Bool { a.rank < b.rank }
    public var rank: Int { Tier.allCases.firstIndex(of: self)! }
    /// The public alias: `lucair/baseline`, …
    public var alias: String { "lucair/\(rawValue)" }
    public var next: Tier? { rank + 1 < Tier.allCases.count ? Tier.allCases[rank + 1] : nil }

    public init?(alias: String) {
        guard alias.hasPrefix("lucair/"), let t = Tier(rawValue: String(alias.dropFirst(7))) else { return nil }
        self = t
    }
}
