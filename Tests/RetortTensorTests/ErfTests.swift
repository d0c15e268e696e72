import Foundation
import XCTest

@testable import RetortTensor

/// The polynomial erf behind GELU against the exact erf (in Double), at the bound its doc states.
final class ErfTests: XCTestCase {
    func testWithinTwoTenthsOfAMillionthOfErfEverywhere() {
        var worst: Double = 0
        var worstAt: Float = 0
        for i in -60_000...60_000 {
            let x = Float(i) / 10_000  // -6 … 6 in steps of 1e-4
            let error = abs(Double(retortErf(x)) - erf(Double(x)))
            if error > worst { (worst, worstAt) = (error, x) }
        }
        XCTAssertLessThan(worst, 2e-7, "largest error \(worst) at x = \(worstAt)")
    }

    func testOddSaturatingAndNaN() {
        for x: Float in [0.001, 0.3, 1, 2.5, 3.9] { XCTAssertEqual(retortErf(-x), -retortErf(x)) }
        XCTAssertEqual(retortErf(0), 0)
        XCTAssertEqual(retortErf(.infinity), 1)
        XCTAssertEqual(retortErf(-.infinity), -1)
        XCTAssertEqual(retortErf(12), 1)
        XCTAssertTrue(retortErf(.nan).isNaN)
        // Small arguments keep their relative accuracy: erf(x) ≈ 2x/√π.
        XCTAssertEqual(Double(retortErf(1e-6)), 2e-6 / Double.pi.squareRoot(), accuracy: 1e-12)
    }
}
