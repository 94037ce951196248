@testable import LucairGateway
import Testing

/// A store down for long is retried every second; the operator hears of it once a minute, with a count.
@Suite struct WarningThrottleTests {
    @Test func theFirstFailureIsToldAtOnceThenOnceAnIntervalWithACount() {
        var w = WarningThrottle(interval: .seconds(60))
        let t0 = ContinuousClock.now
        let first = w.failed(now: t0)
        #expect(first == 1)
        var told: [Int] = []
        for s in 1...59 { if let n = w.failed(now: t0 + .seconds(s)) { told.append(n) } }
        #expect(told.isEmpty, "retries within the minute were told: \(told)")
        let minuteOn = w.failed(now: t0 + .seconds(60)), after = w.failed(now: t0 + .seconds(61))
        #expect(minuteOn == 60 && after == nil)  // the 59 retries in between, and this one
        let recovered = w.succeeded(), again = w.succeeded()
        #expect(recovered && !again, "a recovery after a warning is worth a line, a success after a success is not")
        let flapping = w.failed(now: t0 + .seconds(62)), later = w.failed(now: t0 + .seconds(120))
        #expect(flapping == nil && later == 2, "a store failing on and off is throttled too")
        let recoveredAgain = w.succeeded()
        let newOutage = w.failed(now: t0 + .seconds(300))
        #expect(recoveredAgain && newOutage == 1, "an outage after a quiet minute is told at once")
    }

    @Test func aFailureThatRecoversBeforeTheNextWarningIsToldRecovered() {
        var w = WarningThrottle(interval: .seconds(60))
        let failed = w.failed()
        let recovered = w.succeeded()
        #expect(failed == 1 && recovered)
    }
}
