import Foundation
import XCTest

@testable import RetortTensor

/// log-softmax over the last axis (a classifier's or a language model's logits) runs in C
/// (`VectorMath.logSoftmaxRows`); over any other axis in Swift's lane loop. Against float64 truth
/// at every row length up to 40 (each loop's remainder), against the lane loop on the same values,
/// rows that are not finite as the lane loop and PyTorch give them, the same bits at one and two
/// threads, and the gradient of a -inf log-probability left exactly as it came.
final class LogSoftmaxRowsTests: XCTestCase {
    /// The lane loop on the same rows: a trailing axis of 1 makes the softmax axis not the last.
    private func laneLoop(_ x: Tensor) throws -> Tensor {
        let (rows, n) = (x.shape[0], x.shape[1])
        return try x.reshaped([rows, n, 1]).logSoftmax(axis: 1).reshaped([rows, n])
    }

    func testEveryRowLengthAgainstDoubleAndTheLaneLoop() throws {
        var generator = RandomGenerator(seed: 3)
        for n in 1...40 {
            let x = generator.normal([5, n], std: 4)
            let got = x.logSoftmax(axis: 1)
            var truth = [Float]()
            for r in 0..<5 {
                let row = (0..<n).map { Double(x.scalars[r * n + $0]) }
                let peak = row.max() ?? 0
                let shift = peak + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - peak) })
                truth += row.map { Float($0 - shift) }
            }
            assertClose(got, try Tensor(shape: [5, n], scalars: truth), rtol: 1e-6, atol: 1e-6, "rows of \(n)")
            assertClose(got, try laneLoop(x), rtol: 1e-6, atol: 1e-6, "rows of \(n) against the lane loop")
        }
    }

    func testRowsThatAreNotFiniteComeOutAsTheLaneLoopGivesThem() throws {
        let inf = Float.infinity
        let rows: [[Float]] = [
            [-inf, 0, 1],  // a masked class: -inf, the rest as without it
            [-inf, -inf, -inf],  // nothing left: NaN, as PyTorch
            [inf, 0, 2],  // +inf: NaN there, -inf elsewhere, as PyTorch
            [.nan, 1, 2],  // NaN spreads over the row
            [-200, 0, 3, -90, 1e30, -1e30, 7, 8, 9],  // a huge peak and terms below exp's range
            [3e38, 3e38, -3e38],
        ]
        for row in rows {
            let x = try Tensor(shape: [1, row.count], scalars: row)
            let (got, want) = (x.logSoftmax(axis: 1), try laneLoop(x))
            for (a, b) in zip(got.scalars, want.scalars) {
                let same = b.isNaN ? a.isNaN : a == b || Swift.abs(a - b) <= Swift.abs(b) * 1e-6 + 1e-6
                XCTAssertTrue(same, "\(row): \(got.scalars) against \(want.scalars)")
            }
        }
        XCTAssertEqual(try Tensor(shape: [1, 3], scalars: [-inf, 0, 0]).logSoftmax(axis: 1).scalars[0], -inf)
    }

    func testTheGradientAgainstDoubleAndAMaskedClassKeepsItsGradient() throws {
        var generator = RandomGenerator(seed: 4)
        for n in [1, 7, 8, 9, 27, 33] {
            let x = Variable(generator.normal([6, n], std: 3), requiresGrad: true)
            let seed = generator.normal([6, n])
            let y = try x.logSoftmax(axis: 1)
            try y.backward(seed: seed)
            let got = try XCTUnwrap(x.grad)
            var truth = [Float]()
            for r in 0..<6 {
                let row = (0..<n).map { Double(x.value.scalars[r * n + $0]) }
                let g = (0..<n).map { Double(seed.scalars[r * n + $0]) }
                let peak = row.max() ?? 0
                let total = row.reduce(0) { $0 + Foundation.exp($1 - peak) }
                let gSum = g.reduce(0, +)
                truth += (0..<n).map { Float(g[$0] - Foundation.exp(row[$0] - peak) / total * gSum) }
            }
            assertClose(got, try Tensor(shape: [6, n], scalars: truth), rtol: 1e-5, atol: 1e-6, "gradient, rows of \(n)")
        }
        // exp(-inf) is 0, not the polynomial's smallest value: a masked class's logit gets exactly
        // the gradient its log-probability got (here 0, as a cross-entropy gives it).
        let masked = Variable(try Tensor(shape: [1, 3], scalars: [-.infinity, 0, 1]), requiresGrad: true)
        try masked.logSoftmax(axis: 1).backward(seed: try Tensor(shape: [1, 3], scalars: [0, 1, -2]))
        XCTAssertEqual(try XCTUnwrap(masked.grad).scalars[0].bitPattern, Float(0).bitPattern)
    }

    func testTheSameBitsAtOneAndTwoThreads() throws {
        guard BLAS.gemmLibrary == .oneDNN, Parallel.threshold > 0 else {
            throw XCTSkip("rows are split over threads only with oneDNN and Parallel on")
        }
        var generator = RandomGenerator(seed: 6)
        let x = Variable(generator.normal([4096, 27], std: 3), requiresGrad: true)
        let seed = generator.normal([4096, 27])
        let saved = BLAS.threadCount
        defer { BLAS.threadCount = saved }
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLAS.threadCount = threads
            x.grad = nil
            let y = try x.logSoftmax(axis: 1)
            try y.backward(seed: seed)
            results.append(y.value.scalars + (try XCTUnwrap(x.grad)).scalars)
        }
        XCTAssertTrue(results[0] == results[1], "one thread and two differ")
    }
}
