import XCTest

@testable import RetortTensor

/// `CPU.coreDistance`: how far apart two CPUs are, measured by pinning this thread and one of its own.
final class CPUTests: XCTestCase {
    func testTheFirstTwoCPUsAreMeasuredAndThisThreadCanRunWhereItCouldBefore() throws {
        let before = CPU.allowed()
        guard before.count >= 2 else { throw XCTSkip("one CPU to run on: no pair to measure") }
        let distance = try XCTUnwrap(CPU.coreDistance(trips: 200))
        XCTAssertEqual([distance.first, distance.second], Array(before.prefix(2)))
        XCTAssertGreaterThan(distance.nanoseconds, 0)
        // A crossing is tens to hundreds of nanoseconds; a millisecond would be a probe gone wrong.
        XCTAssertLessThan(distance.nanoseconds, 1_000_000)
        XCTAssertEqual(CPU.allowed(), before, "the probe left this thread pinned")
    }

    func testAPairThatCannotBeMeasuredGivesNilAndLeavesThisThreadAsItWas() throws {
        let before = CPU.allowed()
        let first = try XCTUnwrap(before.first)
        XCTAssertNil(CPU.coreDistance(between: first, and: first, trips: 10))
        // A CPU outside this process's set: the helper thread cannot be pinned there.
        let outside = (0..<1024).first { !before.contains($0) } ?? 1024
        XCTAssertNil(CPU.coreDistance(between: first, and: outside, trips: 10))
        XCTAssertEqual(CPU.allowed(), before, "a failed probe left this thread pinned")
        XCTAssertNil(CPU.coreDistance(between: outside, and: first, trips: 10))
        XCTAssertNil(CPU.coreDistance(between: -1, and: first, trips: 10))
        XCTAssertEqual(CPU.allowed(), before)
    }

    func testTheSummaryReadsTheBound() {
        XCTAssertEqual(
            CoreDistance(first: 0, second: 1, nanoseconds: 31.4).summary,
            "CPUs 0 and 1 hand a cache line over in 31 ns (under 100 ns: a shared L3, likely)")
        XCTAssertTrue(CoreDistance(first: 0, second: 1, nanoseconds: 99.9).sharesCache)
        XCTAssertFalse(CoreDistance(first: 2, second: 3, nanoseconds: 165).sharesCache)
        XCTAssertTrue(
            CoreDistance(first: 2, second: 3, nanoseconds: 165).summary.hasPrefix(
                "CPUs 2 and 3 hand a cache line over in 165 ns (over 100 ns: separate L3s, likely"))
    }
}
