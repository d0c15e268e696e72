import CBLAS
import XCTest

@testable import RetortTensor

/// Large products on OpenBLAS where oneDNN is chosen (`BLAS.largeProductsOnOpenBLAS`, on by default
/// on CPUs without AVX-512; forced on here, with a low threshold, so it runs on every CPU): right at
/// one, two and three threads, C split by rows for a weight gradient (A transposed) and by columns
/// in multiples of 16 otherwise, with both transposes, alpha and beta, widths that do not split
/// evenly, the same bits at any thread count; beta 0 writes C without reading it; OpenBLAS's thread
/// count is as it was afterwards. The plain ones Retort's own GEMM would take instead
/// (`BLAS.largeProductsOnOwnGemm`) are left to OpenBLAS here; PackedGemmTests covers those.
final class LargeProductsTests: XCTestCase {
    private var saved = (GemmLibrary.oneDNN, 1, false, 0, false)

    override func setUp() {
        super.setUp()
        saved = (
            BLAS.gemmLibrary, BLAS.threadCount, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork,
            BLAS.largeProductsOnOwnGemm
        )
        (BLAS.gemmLibrary, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork) = (.oneDNN, true, 1 << 10)
        BLAS.largeProductsOnOwnGemm = false
    }

    override func tearDown() {
        (
            BLAS.gemmLibrary, BLAS.threadCount, BLAS.largeProductsOnOpenBLAS, BLAS.openBLASMinimumWork,
            BLAS.largeProductsOnOwnGemm
        ) = saved
        super.tearDown()
    }

    func testDefaultsToCPUsWithoutAVX512() {
        XCTAssertEqual(saved.2, !CPU.hasAVX512)
        XCTAssertEqual(saved.3, 1 << 25)
    }

    func testSplitProductsAgreeWithAPlainLoop() {
        var state: UInt64 = 29
        // 33 and 17 columns: blocks of 16 and a short last one; 200 columns over three threads.
        for (m, n, k) in [(96, 200, 70), (64, 33, 50), (37, 17, 40), (128, 512, 9)] {
            let c = uniformValues(m * n, &state)
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = uniformValues(m * k, &state)
                let b = uniformValues(k * n, &state)
                var dots = [Double](repeating: 0, count: m * n)
                for i in 0..<m {
                    for j in 0..<n {
                        for p in 0..<k {
                            let x = transposeA ? a[p * m + i] : a[i * k + p]
                            let y = transposeB ? b[j * k + p] : b[p * n + j]
                            dots[i * n + j] += Double(x) * Double(y)
                        }
                    }
                }
                var firsts: [Float: [UInt32]] = [:]
                for threads in [1, 2, 3] {
                    BLAS.threadCount = threads
                    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2)] {
                        var got = beta == 0 ? [Float](repeating: .nan, count: m * n) : c
                        got.withUnsafeMutableBufferPointer { out in
                            BLAS.gemm(
                                m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB,
                                c: out.baseAddress!, alpha: alpha, beta: beta)
                        }
                        var worst = 0.0
                        for index in 0..<(m * n) {
                            let want = Double(alpha) * dots[index] + Double(beta) * Double(c[index])
                            worst = Swift.max(worst, abs(Double(got[index]) - want))
                        }
                        XCTAssertLessThan(
                            worst, 1e-4,
                            "\(m)×\(n)×\(k) Aᵀ \(transposeA) Bᵀ \(transposeB), \(threads) thread(s), alpha \(alpha) beta \(beta)")
                        XCTAssertEqual(Int(openblas_get_num_threads()), threads, "OpenBLAS's threads as they were")
                        XCTAssertEqual(
                            BLAS.largeProductThreadsForTesting, min(threads, transposeA ? m / 32 : n / 16, 2),
                            "the parts' threads")
                        // The same parts at any thread count: the same bits.
                        let bits = got.map(\.bitPattern)
                        XCTAssertEqual(bits, firsts[beta, default: bits], "\(m)×\(n)×\(k), \(threads) thread(s)")
                        firsts[beta] = firsts[beta] ?? bits
                    }
                }
            }
        }
    }

    func testBelowTheThresholdOrOffTheProductStaysWithOneDNN() {
        BLAS.openBLASMinimumWork = 1 << 25
        XCTAssertTrue(BLAS.runsOnOneDNN(m: 128, n: 512, k: 511))
        XCTAssertTrue(BLAS.runsOnOneDNN(m: 128, n: 512, k: 512) == false)
        BLAS.largeProductsOnOpenBLAS = false
        XCTAssertTrue(BLAS.runsOnOneDNN(m: 128, n: 512, k: 512))
        BLAS.gemmLibrary = .openBLAS
        XCTAssertFalse(BLAS.runsOnOneDNN(m: 128, n: 512, k: 512))
    }
}
