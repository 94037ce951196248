/// For a failure that is retried often (every second while a store is down): the first one is
/// reported at once, then at most one report per `interval`, each with how many failed since the
/// last, so a long outage tells the operator it is still going without a line a second.
struct WarningThrottle: Sendable {
    let interval: Duration
    var failures = 0
    var warnedAt: ContinuousClock.Instant?

    init(interval: Duration) { self.interval = interval }

    /// Counts a failure; returns how many to report now (this one included), or nil while the last
    /// report is recent.
    mutating func failed(now: ContinuousClock.Instant = .now) -> Int? {
        failures += 1
        if let warnedAt, now - warnedAt < interval { return nil }
        defer { (failures, warnedAt) = (0, now) }
        return failures
    }

    /// A success: true when failures were reported since the last one (so the recovery is worth a line).
    mutating func succeeded() -> Bool {
        defer { (failures, warnedAt) = (0, nil) }
        return warnedAt != nil
    }
}
