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

    /// `retort bench --wait-together`: measures until the pair shares a cache or the time is up,
    /// and says how long it waited.
    func testWaitingForASharedCacheStopsWhenTogetherOrWhenTimeIsUp() {
        let apart = CoreDistance(first: 0, second: 1, nanoseconds: 160)
        let together = CoreDistance(first: 0, second: 1, nanoseconds: 40)
        var now = 0.0
        var readings = [apart, apart, together, apart]
        var pauses = 0
        let found = CPU.waitForSharedCache(
            upTo: 10, measure: { readings.removeFirst() },
            pause: {
                pauses += 1; now += 0.05
            }, clock: { now })
        XCTAssertEqual(found.distance, together)
        XCTAssertEqual(pauses, 2)
        XCTAssertEqual(found.waited, 0.1, accuracy: 1e-12)

        now = 0
        pauses = 0
        let late = CPU.waitForSharedCache(
            upTo: 1, measure: { apart },
            pause: {
                pauses += 1; now += 0.05
            }, clock: { now })
        XCTAssertEqual(late.distance, apart, "still apart when the time was up: the row says so")
        XCTAssertEqual(pauses, 20)
        XCTAssertGreaterThanOrEqual(late.waited, 1)

        pauses = 0
        let once = CPU.waitForSharedCache(upTo: 0, measure: { apart }, pause: { pauses += 1 }, clock: { 0 })
        XCTAssertEqual(once.distance, apart)
        XCTAssertEqual(pauses, 0, "0 s measures once and does not wait")
        XCTAssertEqual(once.waited, 0)

        let none = CPU.waitForSharedCache(upTo: 10, measure: { nil }, pause: { pauses += 1 }, clock: { 0 })
        XCTAssertNil(none.distance, "one CPU: nothing to wait for")
        XCTAssertEqual(pauses, 0)
    }
}
