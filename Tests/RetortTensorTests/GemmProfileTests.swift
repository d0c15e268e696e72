import Foundation
import XCTest

@testable import RetortTensor

/// `BLAS.profile` (what `retort bench` and its `--shapes` read): each shape's calls and their own
/// time, and the wall time during which any GEMM ran, counted once when calls overlap.
final class GemmProfileTests: XCTestCase {
    override func tearDown() {
        BLAS.profile = nil
        super.tearDown()
    }

    private func product(m: Int, n: Int, k: Int, transposeB: Bool = false) {
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        c.withUnsafeMutableBufferPointer { out in
            BLAS.gemm(m: m, n: n, k: k, a: a, b: b, transposeB: transposeB, c: out.baseAddress!)
        }
        XCTAssertEqual(c[m * n - 1], Float(k) * 0.125)
    }

    func testEachShapeHasItsCallsAndTime() {
        BLAS.profile = GemmProfile()
        for _ in 0..<3 { product(m: 64, n: 96, k: 80) }
        product(m: 32, n: 16, k: 200, transposeB: true)
        let profile = BLAS.profile!
        let wide = GemmShape(m: 64, n: 96, k: 80, transposeA: false, transposeB: false)
        let narrow = GemmShape(m: 32, n: 16, k: 200, transposeA: false, transposeB: true)
        XCTAssertEqual(profile.shapes, [wide: 3, narrow: 1])
        XCTAssertEqual(profile.calls, 4)
        XCTAssertEqual(profile.flops, 2 * (3 * 64 * 96 * 80 + 32 * 16 * 200))
        XCTAssertEqual(Set(profile.shapeSeconds.keys), [wide, narrow])
        XCTAssertTrue(profile.shapeSeconds.values.allSatisfy { $0 > 0 })
        // One call at a time: the shapes' times are parts of the wall time.
        XCTAssertLessThanOrEqual(profile.shapeSeconds.values.reduce(0, +), profile.seconds * (1 + 1e-9))
    }

    func testOverlappingCallsEachCountTheirOwnTime() {
        BLAS.profile = GemmProfile()
        let shape = GemmShape(m: 8, n: 8, k: 8, transposeA: false, transposeB: false)
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        let since = BLAS.profileEnter()
        // A second call opens on another thread while this one is open; both stay open for the
        // 20 ms after it opened, so their overlap is at least that.
        Thread.detachNewThread {
            let own = BLAS.profileEnter()
            started.signal()
            usleep(20_000)
            BLAS.profileLeave(shape, since: own)
            done.signal()
        }
        started.wait()
        usleep(20_000)
        BLAS.profileLeave(shape, since: since)
        done.wait()
        let profile = BLAS.profile!
        XCTAssertEqual(profile.shapes[shape], 2)
        // Own times add the overlap twice, the wall time once.
        let own = profile.shapeSeconds[shape] ?? 0
        XCTAssertGreaterThan(own - profile.seconds, 0.015)
        XCTAssertGreaterThan(profile.seconds, 0.015)
    }

    func testACallThatDidNotRunCountsNoShape() {
        BLAS.profile = GemmProfile()
        let since = BLAS.profileEnter()
        BLAS.profileLeave(nil, since: since)
        XCTAssertEqual(BLAS.profile?.calls, 0)
        XCTAssertTrue(BLAS.profile?.shapeSeconds.isEmpty ?? false)
    }
}
