import XCTest

@testable import RetortTensor

/// Both GEMM libraries behind `BLAS.gemm` against a plain triple loop, on every transpose, with
/// alpha and beta, on sizes either side of `BLAS.oneDNNMinimumWork` (so both routes run).
final class GEMMTests: XCTestCase {
    private func reference(
        m: Int, n: Int, k: Int, a: [Float], transposeA: Bool, b: [Float], transposeB: Bool, c: [Float], alpha: Float,
        beta: Float
    ) -> [Float] {
        var out = c
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k {
                    let x = transposeA ? a[p * m + i] : a[i * k + p]
                    let y = transposeB ? b[j * k + p] : b[p * n + j]
                    sum += Double(x) * Double(y)
                }
                out[i * n + j] = alpha * Float(sum) + beta * c[i * n + j]
            }
        }
        return out
    }

    func testBothLibrariesAgreeWithAPlainLoop() {
        let saved = BLAS.gemmLibrary
        defer { BLAS.gemmLibrary = saved }
        var rng = SplitMix(seed: 7)
        // (m, n, k): tiny (OpenBLAS always), above the oneDNN threshold, a single row (gemv).
        for (m, n, k) in [(3, 5, 4), (70, 65, 64), (96, 40, 80), (1, 33, 17)] {
            XCTAssertEqual(m * n * k >= BLAS.oneDNNMinimumWork, m >= 70, "size \(m)×\(n)×\(k) sits on the wrong side")
            let a = (0..<(m * k)).map { _ in rng.nextFloat() }
            let b = (0..<(k * n)).map { _ in rng.nextFloat() }
            let c = (0..<(m * n)).map { _ in rng.nextFloat() }
            for library in GemmLibrary.allCases {
                BLAS.gemmLibrary = library
                for transposeA in [false, true] {
                    for transposeB in [false, true] {
                        for (alpha, beta) in [(Float(1), Float(0)), (0.5, 2)] {
                            let want = reference(
                                m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB, c: c,
                                alpha: alpha, beta: beta)
                            var got = c
                            got.withUnsafeMutableBufferPointer { out in
                                BLAS.gemm(
                                    m: m, n: n, k: k, a: a, transposeA: transposeA, b: b, transposeB: transposeB,
                                    c: out.baseAddress!, alpha: alpha, beta: beta)
                            }
                            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
                            XCTAssertLessThan(
                                worst, 1e-4,
                                "\(library) \(m)×\(n)×\(k) transposeA \(transposeA) transposeB \(transposeB) alpha \(alpha) beta \(beta)"
                            )
                        }
                    }
                }
            }
        }
    }

    func testThreadCountReachesBothLibraries() {
        let saved = BLAS.threadCount
        defer { BLAS.threadCount = saved }
        BLAS.threadCount = 1
        XCTAssertEqual(BLAS.threadCount, 1)
        XCTAssertEqual(OneDNN.threadCount, 1)
        BLAS.threadCount = 2
        XCTAssertEqual(OneDNN.threadCount, 2)
    }
}

/// A small deterministic generator for test data, in [-1, 1).
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextFloat() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
}
