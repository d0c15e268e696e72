import Foundation
import XCTest

@testable import RetortTensor

/// CRetortMath's erf and exp against the exact functions (in Double) at the bounds their docs
/// state, GELU's vectorised loops against GELU computed in Double at every length up to 40 so each
/// loop's remainder runs, and each vector width the CPU has (baseline, AVX2, AVX-512) against the others.
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

    /// The loops' outputs at one vector width (`VectorMath.widest` capped at `level`), each length
    /// 0...40 and 1000: GELU and its Φ, GELU's backward, ReLU and its backward, Adam, SGD with Nesterov momentum, column sums
    /// of a and of a·b, a row added, layer norm and its backward; and attention heads both ways.
    private func outputs(atWidth level: Int) -> [[Float]] {
        VectorMath.widest = level
        defer { VectorMath.widest = 2 }
        var generator = RandomGenerator(seed: 11)
        var results: [[Float]] = []
        for count in Array(0...40) + [1000] {
            let x = generator.normal([count], std: 3)
            let g = generator.normal([count])
            let (out, cdf) = VectorMath.geluKeepingCDF(x)
            results += [out.scalars, cdf.scalars, VectorMath.geluBackward(g, x: x, cdf: cdf).scalars]
            results += [VectorMath.relu(x).scalars, VectorMath.reluBackward(g, x: x).scalars]
            var (w, m, v) = (x.scalars, g.scalars.map { $0 * 0.1 }, g.scalars.map { $0 * $0 })
            var (sw, velocity) = (x.scalars, g.scalars)
            let gradient = generator.normal([count]).scalars
            gradient.withUnsafeBufferPointer { pg in
                guard let pg = pg.baseAddress else { return }
                VectorMath.adam(
                    &w, m: &m, v: &v, gradient: pg, range: 0..<count,
                    settings: (lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: true),
                    stepSize: 0.02, rootCorrection2: 0.3)
                VectorMath.sgdMomentum(
                    &sw, velocity: &velocity, gradient: pg, range: 0..<count,
                    settings: (lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true), first: false)
            }
            results += [w, m, v, sw, velocity]
            // count values as rows × columns (a prime count up to 40 is one row; 1000 is 10 × 100, so
            // column sums' blocks of 64 run), and as lanes of layer norm.
            let columns = (0..<count).map { count - $0 }.first { count % $0 == 0 && $0 <= 100 } ?? 0
            let rows = columns == 0 ? 0 : count / columns
            var sums = [Float](repeating: 0, count: columns), dots = sums, added = x.scalars
            var normalized = added, normed = added, reciprocals = [Float](repeating: 0, count: rows), dx = added
            let (a, b, row) = (x.scalars, g.scalars, Array(g.scalars.prefix(columns)))
            VectorMath.columnSums(a, times: nil, rows: rows, stride: columns, columns: columns, into: &sums)
            VectorMath.columnSums(a, times: b, rows: rows, stride: columns, columns: columns, into: &dots)
            VectorMath.addRow(row, columns: columns, rows: rows, to: &added)
            VectorMath.layerNorm(
                a, lanes: 0..<rows, size: columns, eps: 1e-5, weight: row, bias: b, normalized: &normalized,
                out: &normed, reciprocals: &reciprocals)
            VectorMath.layerNormBackward(
                b, normalized: normalized, reciprocals: reciprocals, lanes: 0..<rows, size: columns, weight: row,
                into: &dx)
            results += [sums, dots, added, normalized, normed, reciprocals, dx]
        }
        // One attention head of 16 features, forward and backward, causal or not, over 1, 5, 16 and
        // 19 positions (rows of scores in partial and whole vectors of 8, groups of four and the rest).
        for t in [1, 5, 16, 19] {
            for causal in [false, true] {
                let size = 16
                let rows = generator.normal([t, 3 * size]).scalars
                let go = generator.normal([t, size]).scalars
                var (p, out) = ([Float](repeating: 0, count: t * t), [Float](repeating: 0, count: t * size))
                var grad = [Float](repeating: 0, count: t * 3 * size)
                var scratch = [Float](repeating: 0, count: t * size + t * t)
                rows.withUnsafeBufferPointer { r in
                    go.withUnsafeBufferPointer { g in
                        p.withUnsafeMutableBufferPointer { p in
                            out.withUnsafeMutableBufferPointer { o in
                                grad.withUnsafeMutableBufferPointer { d in
                                    scratch.withUnsafeMutableBufferPointer { s in
                                        guard let r = r.baseAddress, let g = g.baseAddress, let p = p.baseAddress,
                                            let o = o.baseAddress, let d = d.baseAddress, let s = s.baseAddress
                                        else { return }
                                        VectorMath.attentionHead(
                                            r, inner: size, stride: 3 * size, t: t, size: size, scale: 0.25,
                                            causal: causal, weights: p, out: o, outStride: size, scratch: s)
                                        VectorMath.attentionHeadBackward(
                                            r, inner: size, stride: 3 * size, weights: p, gradient: g, goStride: size,
                                            t: t, size: size, scale: 0.25, into: d, scratch: s)
                                    }
                                }
                            }
                        }
                    }
                }
                results += [p, out, grad]
            }
        }
        return results
    }

    /// AVX2 and AVX-512 give the same bits (both fuse multiply-adds, each sum in the same order); the
    /// baseline, without FMA, within a few units in the last place. Skipped, after checking what it
    /// can, on a CPU without AVX-512.
    func testEveryVectorWidthAgrees() throws {
        let widest = VectorMath.widest
        let results = (0...widest).map { outputs(atWidth: $0) }
        if widest >= 2 { XCTAssertTrue(results[2] == results[1], "AVX-512 and AVX2 differ") }
        if widest >= 1 {
            for (index, (baseline, avx2)) in zip(results[0], results[1]).enumerated() {
                XCTAssertEqual(baseline.count, avx2.count)
                for (u, w) in zip(baseline, avx2) where !(u.isNaN && w.isNaN) {
                    XCTAssertEqual(u, w, accuracy: 1e-5 * Swift.max(1, abs(w)), "output \(index)")
                }
            }
        }
        XCTAssertEqual(VectorMath.widest, widest, "the cap restored")
        if widest < 2 { throw XCTSkip("this CPU has no AVX-512 (widest \(widest)): compared what it has") }
    }
}
