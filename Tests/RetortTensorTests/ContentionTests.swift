import XCTest

@testable import RetortTensor

/// What `Contention` decides from how busy other processes kept the cores: the cores they leave,
/// at least one, at most the threads asked for, and all of them again once the others stop.
final class ContentionTests: XCTestCase {
    func testTheWorkRunsOnTheCoresOtherProcessesLeave() {
        let asked = BLAS.threadCount
        defer { BLAS.threadCount = asked }
        BLAS.threadCount = 2
        Contention.record(othersBusy: 1.0, cpus: 2)
        XCTAssertEqual(BLAS.threadCount, 1, "another process keeping one of two cores busy leaves one")
        XCTAssertEqual(Contention.requested, 2, "what was asked for is kept")
        Contention.record(othersBusy: 0.2, cpus: 2)
        XCTAssertEqual(BLAS.threadCount, 2, "back to both once the other process stops")
        Contention.record(othersBusy: 0.5, cpus: 2)
        XCTAssertEqual(BLAS.threadCount, 2, "half a core busy or less leaves them all")
        Contention.record(othersBusy: 0.6, cpus: 2)
        XCTAssertEqual(BLAS.threadCount, 1)
        Contention.record(othersBusy: 3.0, cpus: 2)
        XCTAssertEqual(BLAS.threadCount, 1, "never fewer than one")
        BLAS.threadCount = 4
        Contention.record(othersBusy: 1.0, cpus: 8)
        XCTAssertEqual(BLAS.threadCount, 4, "never more than asked for")
        Contention.record(othersBusy: 6.0, cpus: 8)
        XCTAssertEqual(BLAS.threadCount, 2)
        BLAS.threadCount = 3
        XCTAssertEqual(Contention.running, 3, "a new count asked for runs at once")
    }
}
