import XCTest

@testable import RetortTensor

/// A product with B transposed to fewer than 16 outputs, or fewer than 32 with an inner dimension
/// of at least 512 (`BLAS.narrowOutputsOnOwnLoop`): on
/// Retort's own loop where oneDNN runs the GEMM, right for every width, with a tail of k, alpha and
/// beta, and the same bits however its rows are split over threads and at AVX2 or AVX-512. Every
/// size here is at least `BLAS.oneDNNMinimumWork` (smaller products stay with OpenBLAS).
final class NarrowProductTests: XCTestCase {
    private func product(
        m: Int, n: Int, k: Int, _ x: [Float], _ w: [Float], c: [Float], alpha: Float = 1, beta: Float = 0
    ) -> [Float] {
        var out = c
        out.withUnsafeMutableBufferPointer { out in
            BLAS.gemm(m: m, n: n, k: k, a: x, b: w, transposeB: true, c: out.baseAddress!, alpha: alpha, beta: beta)
        }
        return out
    }

    override func setUp() {
        super.setUp()
        (savedLibrary, savedThreads, savedThreshold) = (BLAS.gemmLibrary, BLAS.threadCount, Parallel.threshold)
        BLAS.gemmLibrary = .oneDNN
    }

    override func tearDown() {
        (BLAS.gemmLibrary, BLAS.threadCount, Parallel.threshold) = (savedLibrary, savedThreads, savedThreshold)
        BLAS.narrowOutputsOnOwnLoop = true
        BLAS.spacesNarrowWeights = true
        VectorMath.widest = 2
        super.tearDown()
    }

    private var savedLibrary = GemmLibrary.oneDNN
    private var savedThreads = 1
    private var savedThreshold = 0

    func testEveryWidthAgreesWithAPlainLoop() {
        var state: UInt64 = 3
        // Past 15 outputs, w's rows go 15 at a time, with a long enough inner dimension.
        for n in 1...31 {
            // k has a tail past the 8-wide steps; m odd leaves a row after the pairs.
            for m in [7, 33] {
                let k = Swift.max(
                    BLAS.oneDNNMinimumWork / (m * n) + 5,
                    n < BLAS.narrowOutputWidth ? 0 : BLAS.narrowLoopMinimumDepthPastNarrow + 5)
                let x = uniformValues(m * k, &state)
                let w = uniformValues(n * k, &state)
                let c = uniformValues(m * n, &state)
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2)] {
                    let got = product(m: m, n: n, k: k, x, w, c: c, alpha: alpha, beta: beta)
                    for i in 0..<m {
                        for j in 0..<n {
                            let dot = (0..<k).reduce(0.0) { $0 + Double(x[i * k + $1]) * Double(w[j * k + $1]) }
                            let want = Double(alpha) * dot + Double(beta) * Double(c[i * n + j])
                            XCTAssertEqual(
                                Double(got[i * n + j]), want, accuracy: 1e-4 + 1e-6 * Double(k),
                                "\(m)×\(n)×\(k) alpha \(alpha) beta \(beta) at (\(i), \(j))")
                        }
                    }
                }
            }
        }
    }

    func testBetaZeroDoesNotReadTheOutput() {
        var state: UInt64 = 5
        let (m, n, k) = (64, 10, 512)
        let got = product(
            m: m, n: n, k: k, uniformValues(m * k, &state), uniformValues(n * k, &state),
            c: [Float](repeating: .nan, count: m * n))
        XCTAssertFalse(got.contains { $0.isNaN }, "beta 0 must overwrite c, as BLAS does")
    }

    func testWeightsRowsApartReadOnlyTheirValues() {
        var state: UInt64 = 7
        let (m, n, k) = (9, 20, 37)
        let x = uniformValues(m * k, &state)
        let w = uniformValues(n * k, &state)
        // The same rows 45 apart, NaN between them: nothing past each row's k values may be read.
        let stride = k + 8
        var spaced = [Float](repeating: .nan, count: n * stride)
        for j in 0..<n { for p in 0..<k { spaced[j * stride + p] = w[j * k + p] } }
        for widest in [1, 2] {
            VectorMath.widest = widest
            var near = [Float](repeating: 0, count: m * n)
            var apart = near
            near.withUnsafeMutableBufferPointer { out in
                VectorMath.narrowProduct(
                    rows: 0..<m, n: n, k: k, x: x, weights: w, weightStride: k, c: out.baseAddress!, alpha: 1, beta: 0)
            }
            apart.withUnsafeMutableBufferPointer { out in
                VectorMath.narrowProduct(
                    rows: 0..<m, n: n, k: k, x: x, weights: spaced, weightStride: stride, c: out.baseAddress!,
                    alpha: 1, beta: 0)
            }
            XCTAssertFalse(apart.contains { $0.isNaN }, "level \(widest) read past a row of w")
            XCTAssertEqual(apart, near, "level \(widest)")
        }
    }

    func testRunsOnTheOwnLoopWithTheSameBitsAnyWay() {
        // Ten outputs, and 27 (two blocks of w's rows) with a long inner dimension.
        // Then with rows of w copied further apart (k a multiple of 1024), and k = 512 (not copied).
        for (m, n, k) in [(129, 10, 515), (33, 27, 2050), (33, 27, 2048), (32, 10, 1024), (64, 10, 512)] {
            checkOwnLoop(m: m, n: n, k: k)
        }
    }

    private func checkOwnLoop(m: Int, n: Int, k: Int) {
        (BLAS.narrowOutputsOnOwnLoop, VectorMath.widest, Parallel.threshold) = (true, 2, savedThreshold)
        BLAS.spacesNarrowWeights = true
        var state: UInt64 = 11
        let x = uniformValues(m * k, &state)
        let w = uniformValues(n * k, &state)
        XCTAssertGreaterThanOrEqual(m * n * k, BLAS.oneDNNMinimumWork)
        let zeros = [Float](repeating: 0, count: m * n)
        var direct = zeros
        direct.withUnsafeMutableBufferPointer { out in
            VectorMath.narrowProduct(
                rows: 0..<m, n: n, k: k, x: x, weights: w, weightStride: k, c: out.baseAddress!, alpha: 1, beta: 0)
        }
        BLAS.threadCount = 1
        XCTAssertEqual(product(m: m, n: n, k: k, x, w, c: zeros), direct, "BLAS.gemm must run the own loop")
        BLAS.threadCount = 2
        Parallel.threshold = 1
        XCTAssertEqual(product(m: m, n: n, k: k, x, w, c: zeros), direct, "rows split over two threads")
        VectorMath.widest = 1
        XCTAssertEqual(product(m: m, n: n, k: k, x, w, c: zeros), direct, "AVX2 (a row at a time) against AVX-512")
        BLAS.spacesNarrowWeights = false
        XCTAssertEqual(product(m: m, n: n, k: k, x, w, c: zeros), direct, "w's rows where they are")
        BLAS.narrowOutputsOnOwnLoop = false
        let library = product(m: m, n: n, k: k, x, w, c: zeros)
        XCTAssertNotEqual(library, direct, "switched off, the GEMM library's own order of sums")
        XCTAssertLessThan(zip(library, direct).map { abs($0 - $1) }.max() ?? 1, 1e-4 + 1e-6 * Float(k))
    }
}
