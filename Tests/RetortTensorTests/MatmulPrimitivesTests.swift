import XCTest

@testable import RetortTensor

/// The wide products on oneDNN's matmul primitive (MatmulPrimitives.swift) against a plain loop: A
/// as is and B transposed or not, at one thread and two, inside a parallel region, and the products
/// it must leave to `dnnl_sgemm` (alpha, beta, A transposed) still right.
final class MatmulPrimitivesTests: XCTestCase {
    private var saved: (GemmLibrary, Int, Bool) = (.openBLAS, 1, true)
    private let (m, n, k) = (8, 520, 530)

    override func setUp() {
        saved = (BLAS.gemmLibrary, BLAS.threadCount, MatmulPrimitives.isEnabled)
        // Primitives are used only with oneDNN's GEMM; choose it so the tests run on every CPU.
        BLAS.gemmLibrary = .oneDNN
        MatmulPrimitives.isEnabled = true
        MatmulPrimitives.removeAll()
    }

    override func tearDown() {
        (BLAS.gemmLibrary, BLAS.threadCount, MatmulPrimitives.isEnabled) = saved
        MatmulPrimitives.removeAll()
    }

    private func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 997) / 498.5 - 1 }
    }

    /// alpha · op(A) @ op(B) + beta · C in double precision, row-major.
    private func reference(
        _ a: [Float], transposeA: Bool, _ b: [Float], transposeB: Bool, _ c: [Float], alpha: Float, beta: Float
    ) -> [Float] {
        var out = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * m + i] : a[i * k + p]
                    let y = transposeB ? b[j * k + p] : b[p * n + j]
                    sum += Double(x) * Double(y)
                }
                out[i * n + j] = Float(Double(alpha) * sum + Double(beta) * Double(c[i * n + j]))
            }
        }
        return out
    }

    private func gemm(transposeA: Bool = false, transposeB: Bool, alpha: Float = 1, beta: Float = 0) -> ([Float], [Float]) {
        let a = values(m * k, seed: 1)
        let b = values(k * n, seed: 2)
        var c = values(m * n, seed: 3)
        let want = reference(a, transposeA: transposeA, b, transposeB: transposeB, c, alpha: alpha, beta: beta)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.gemm(
                        m: m, n: n, k: k, a: pa.baseAddress!, transposeA: transposeA, b: pb.baseAddress!,
                        transposeB: transposeB, c: pc.baseAddress!, alpha: alpha, beta: beta)
                }
            }
        }
        return (c, want)
    }

    private func assertClose(_ got: [Float], _ want: [Float], _ what: String, line: UInt = #line) {
        let worst = zip(got, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        XCTAssertLessThan(worst, 1e-4, "\(what): largest relative difference \(worst)", line: line)
    }

    func testWideProductsRunOnAPrimitiveAndAreRight() {
        XCTAssertGreaterThanOrEqual(m * n * k, BLAS.oneDNNMinimumWork, "the test's product must be large enough")
        for threads in [1, 2] {
            BLAS.threadCount = threads
            for transposeB in [false, true] {
                MatmulPrimitives.removeAll()
                for call in 1...2 {
                    let (got, want) = gemm(transposeB: transposeB)
                    assertClose(got, want, "\(threads) thread(s), B \(transposeB ? "transposed" : "as is"), call \(call)")
                }
                XCTAssertEqual(MatmulPrimitives.count, 1, "no primitive made for the shape")
            }
        }
    }

    func testProductsItMustNotTakeAreStillRight() {
        for (what, transposeA, alpha, beta) in [
            ("beta 1", false, Float(1), Float(1)), ("alpha 0.5", false, 0.5, 0), ("A transposed", true, 1, 0),
        ] {
            MatmulPrimitives.removeAll()
            let (got, want) = gemm(transposeA: transposeA, transposeB: true, alpha: alpha, beta: beta)
            assertClose(got, want, what)
            XCTAssertEqual(MatmulPrimitives.count, 0, "\(what) ran on a primitive")
        }
    }

    func testInsideAParallelRegionTheWholeProductIsComputed() {
        BLAS.threadCount = 2
        _ = gemm(transposeB: true)
        XCTAssertEqual(MatmulPrimitives.count, 1, "made for two threads")
        var result: ([Float], [Float]) = ([], [])
        OneDNN.parallel(threads: 2) { thread, _ in
            if thread == 0 { result = gemm(transposeB: true) }
        }
        assertClose(result.0, result.1, "inside a parallel region")
    }
}
