import Foundation
import LucairGateway
import Testing

/// Request ids sort by time (the stores' indexes grow at one end) and stay unique.
@Suite struct RequestIdTests {
    @Test func idsAreTimeOrderedHexAndUnique() async throws {
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let first = APIKeys.timeOrderedId("req")
        try await Task.sleep(for: .milliseconds(3))
        let later = APIKeys.timeOrderedId("req")
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        for id in [first, later] {
            #expect(id.hasPrefix("req_") && id.count == 4 + 28, "\(id)")
            #expect(id.dropFirst(4).allSatisfy { $0.isHexDigit && !$0.isUppercase }, "\(id)")
        }
        #expect(first < later, "ids made 3 ms apart sort in that order: \(first), \(later)")
        let ms = try #require(Int64(first.dropFirst(4).prefix(12), radix: 16))
        #expect(ms >= before && ms <= after, "the first 12 digits are the Unix time in ms")
        let many = (0..<20_000).map { _ in APIKeys.timeOrderedId("req") }
        #expect(Set(many).count == many.count, "ids made in the same milliseconds differ")
    }
}
