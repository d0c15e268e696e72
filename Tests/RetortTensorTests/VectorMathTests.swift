import Foundation
import XCTest

@testable import RetortTensor

/// CRetortMath's erf and exp against the exact functions (in Double) at the bounds their docs
/// state, and GELU's vectorised loops (AVX2 with FMA where the CPU has them) against GELU computed
/// in Double, at every length up to 40 so each loop's remainder runs.
final class VectorMathTests: XCTestCase {
    func testWithinTwoTenthsOfAMillionthOfErfEverywhere() {
        var worst: Double = 0
        var worstAt: Float = 0
        for i in -60_000...60_000 {
            let x = Float(i) / 10_000  // -6 … 6 in steps of 1e-4
            let error = abs(Double(VectorMath.erf(x)) - erf(Double(x)))
            if error > worst { (worst, worstAt) = (error, x) }
        }
        XCTAssertLessThan(worst, 2e-7, "largest error \(worst) at x = \(worstAt)")
    }

    func testOddSaturatingAndNaN() {
        for x: Float in [0.001, 0.3, 1, 2.5, 3.9] { XCTAssertEqual(VectorMath.erf(-x), -VectorMath.erf(x)) }
        XCTAssertEqual(VectorMath.erf(0), 0)
        XCTAssertEqual(VectorMath.erf(.infinity), 1)
        XCTAssertEqual(VectorMath.erf(-.infinity), -1)
        XCTAssertEqual(VectorMath.erf(12), 1)
        XCTAssertTrue(VectorMath.erf(.nan).isNaN)
        // Small arguments keep their relative accuracy: erf(x) ≈ 2x/√π.
        XCTAssertEqual(Double(VectorMath.erf(1e-6)), 2e-6 / Double.pi.squareRoot(), accuracy: 1e-12)
    }

    func testExpWithinTwoUnitsInTheLastPlace() {
        var worst: Double = 0
        var worstAt: Float = 0
        for i in -87_000...88_000 {
            let x = Float(i) / 1_000
            let exact = Foundation.exp(Double(x))
            let error = abs(Double(VectorMath.exp(x)) - exact) / exact
            if error > worst { (worst, worstAt) = (error, x) }
        }
        XCTAssertLessThan(worst, 2.5e-7, "largest relative error \(worst) at x = \(worstAt)")
        XCTAssertTrue(VectorMath.exp(.nan).isNaN)
        XCTAssertEqual(VectorMath.exp(0), 1)
        XCTAssertLessThan(VectorMath.exp(-200), 1e-37)
    }

    func testGELUAndItsGradientOnEveryLength() {
        var generator = RandomGenerator(seed: 5)
        for count in 0...40 {
            let x = generator.normal([count], std: 3)
            let g = generator.normal([count])
            let (out, cdf) = VectorMath.geluKeepingCDF(x)
            XCTAssertEqual(VectorMath.gelu(x).scalars, out.scalars, "length \(count): with and without Φ kept")
            let dx = VectorMath.geluBackward(g, x: x, cdf: cdf)
            for i in 0..<count {
                let xi = Double(x.scalars[i])
                let phi = 0.5 * (1 + erf(xi / 2.0.squareRoot()))
                let density = Foundation.exp(-0.5 * xi * xi) / (2 * Double.pi).squareRoot()
                XCTAssertEqual(Double(out.scalars[i]), xi * phi, accuracy: 1e-6 * (1 + abs(xi)), "gelu(\(xi))")
                XCTAssertEqual(
                    Double(dx.scalars[i]), Double(g.scalars[i]) * (phi + xi * density), accuracy: 1e-6 * (1 + abs(xi)),
                    "gelu'(\(xi))")
            }
        }
        let special = Tensor([.nan, .infinity, -.infinity, 0])
        let (out, cdf) = VectorMath.geluKeepingCDF(special)
        // x · Φ(x) as written: −∞ · 0 is NaN (PyTorch 2.15 gives NaN for ±∞ alike).
        XCTAssertTrue(out.scalars[0].isNaN)
        XCTAssertEqual(out.scalars[1], .infinity)
        XCTAssertTrue(out.scalars[2].isNaN)
        XCTAssertEqual(out.scalars[3], 0)
        XCTAssertEqual(Array(cdf.scalars[1...]), [1, 0, 0.5])
    }
}
