/// For a failure that is retried often (every second while a store is down): the first one is
/// reported at once, then at most one report per `interval`, each with how many failed since the
/// last, so a long outage tells the operator it is still going without a line a second. The
/// interval holds across successes, so a store that fails on and off is throttled too.
struct WarningThrottle: Sendable {
    let interval: Duration
    var failures = 0
    var warnedAt: ContinuousClock.Instant?
    /// A failure was reported since the last success.
    var told = false

    init(interval: Duration) { self.interval = interval }

    /// Counts a failure; returns how many to report now (this one included), or nil while the last
    /// report is recent.
    mutating func failed(now: ContinuousClock.Instant = .now) -> Int? {
        failures += 1
        if let warnedAt, now - warnedAt < interval { return nil }
        defer { (failures, warnedAt, told) = (0, now, true) }
        return failures
    }

    /// A success: true when a failure was reported since the last one (the recovery is worth a line).
    mutating func succeeded() -> Bool {
        defer { (failures, told) = (0, false) }
        return told
    }
}
