import XCTest

@testable import RetortTensor

/// A product with A transposed (a weight gradient) at two or more threads, its rows of C split
/// over the threads by Retort (`BLAS.splitsWeightGradientRows`): right for rows that do not split
/// evenly, with B as it is or transposed, alpha and beta; beta 0 writes C without reading it.
final class WeightGradientRowsTests: XCTestCase {
    override func setUp() {
        super.setUp()
        saved = (BLAS.gemmLibrary, BLAS.threadCount)
        BLAS.gemmLibrary = .oneDNN
    }

    override func tearDown() {
        (BLAS.gemmLibrary, BLAS.threadCount) = saved
        BLAS.splitsWeightGradientRows = true
        super.tearDown()
    }

    private var saved = (GemmLibrary.oneDNN, 1)

    /// `alpha * Aᵀ @ op(B) + beta * C` through `BLAS.gemm`, A being k×m.
    private func product(
        m: Int, n: Int, k: Int, _ a: [Float], _ b: [Float], transposeB: Bool, c: [Float], alpha: Float, beta: Float
    ) -> [Float] {
        var out = c
        out.withUnsafeMutableBufferPointer { out in
            BLAS.gemm(
                m: m, n: n, k: k, a: a, transposeA: true, b: b, transposeB: transposeB, c: out.baseAddress!,
                alpha: alpha, beta: beta)
        }
        return out
    }

    func testSplitRowsAgreeWithAPlainLoop() {
        var state: UInt64 = 11
        // 97 rows split unevenly over 2 and 3 threads; 64 gives each of two threads the fewest rows it may get.
        for (m, n, k) in [(97, 2703, 20), (64, 4100, 17)] {
            XCTAssertGreaterThanOrEqual(m * n, BLAS.weightGradientMinimumValues)
            let a = uniformValues(k * m, &state)
            let c = uniformValues(m * n, &state)
            for transposeB in [false, true] {
                let b = uniformValues(k * n, &state)
                var dots = [Double](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        for p in 0..<k {
                            dots[i * n + j] += Double(a[p * m + i]) * Double(b[transposeB ? j * k + p : p * n + j])
                        }
                    }
                }
                for threads in [2, 3] {
                    BLAS.threadCount = threads
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2)] {
                        let got = product(
                            m: m, n: n, k: k, a, b, transposeB: transposeB, c: c, alpha: alpha, beta: beta)
                        var worst = 0.0
                        for index in 0..<(m * n) {
                            let want = Double(alpha) * dots[index] + Double(beta) * Double(c[index])
                            worst = Swift.max(worst, abs(Double(got[index]) - want))
                        }
                        XCTAssertLessThan(
                            worst, 1e-4, "\(m)×\(n)×\(k) Bᵀ \(transposeB) threads \(threads) alpha \(alpha) beta \(beta)")
                    }
                }
            }
        }
    }

    func testProductsWithoutATransposedAreNotSplitHere() {
        var state: UInt64 = 19
        let (m, n, k) = (97, 2703, 20)
        let a = uniformValues(m * k, &state)
        let b = uniformValues(k * n, &state)
        var got = [Float](repeating: 0, count: m * n)
        BLAS.threadCount = 2
        got.withUnsafeMutableBufferPointer { got in
            BLAS.gemm(m: m, n: n, k: k, a: a, b: b, c: got.baseAddress!)
        }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                let want = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) }
                worst = Swift.max(worst, abs(Double(got[i * n + j]) - want))
            }
        }
        XCTAssertLessThan(worst, 1e-4)
    }

    func testARefusedPartIsDoneOnceOnOpenBLAS() {
        var state: UInt64 = 23
        let (m, n, k) = (97, 2703, 20)
        let a = uniformValues(k * m, &state)
        let b = uniformValues(k * n, &state)
        let c = uniformValues(m * n, &state)
        BLAS.threadCount = 2
        BLAS.splitsWeightGradientRows = false
        let whole = product(m: m, n: n, k: k, a, b, transposeB: false, c: c, alpha: 0.5, beta: 2)
        BLAS.splitsWeightGradientRows = true
        for part in [0, 1] {
            BLAS.refusesWeightGradientPartForTesting = part
            defer { BLAS.refusesWeightGradientPartForTesting = nil }
            let got = product(m: m, n: n, k: k, a, b, transposeB: false, c: c, alpha: 0.5, beta: 2)
            let worst = zip(got, whole).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4, "part \(part) refused: beta must be applied once to every row")
        }
    }

    func testBetaZeroDoesNotReadTheOutput() {
        var state: UInt64 = 13
        let (m, n, k) = (128, 2048, 16)
        BLAS.threadCount = 2
        let got = product(
            m: m, n: n, k: k, uniformValues(k * m, &state), uniformValues(k * n, &state), transposeB: false,
            c: [Float](repeating: .nan, count: m * n), alpha: 1, beta: 0)
        XCTAssertFalse(got.contains { $0.isNaN }, "beta 0 must overwrite c, as BLAS does")
    }

    func testSplitAndUnsplitProductsAgree() {
        var state: UInt64 = 17
        let (m, n, k) = (512, 784, 128)  // mlp-784-512-512-10's first weight gradient at batch 128
        let a = uniformValues(k * m, &state)
        let b = uniformValues(k * n, &state)
        let c = [Float](repeating: 0, count: m * n)
        BLAS.threadCount = 2
        let split = product(m: m, n: n, k: k, a, b, transposeB: false, c: c, alpha: 1, beta: 0)
        BLAS.splitsWeightGradientRows = false
        let whole = product(m: m, n: n, k: k, a, b, transposeB: false, c: c, alpha: 1, beta: 0)
        let worst = zip(split, whole).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-4)
    }
}
