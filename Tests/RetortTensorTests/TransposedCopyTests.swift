import XCTest

@testable import RetortTensor

/// `BLAS.copiesTransposedB`: a product with B transposed and at least 128 rows multiplies a
/// transposed copy of B on `dnnl_sgemm`; the copy (`ImageKernels.toChannelsLast`, the transpose
/// inference's convolutions use) is exact at any size, and the product agrees with a plain loop.
final class TransposedCopyTests: XCTestCase {
    override func tearDown() {
        BLAS.copiesTransposedB = true
        super.tearDown()
    }

    func testTransposeIsExactAtAnySize() {
        var state: UInt64 = 9
        // Whole 4×4 blocks, edges of rows and columns, a single row and a single column.
        for (rows, columns) in [(16, 24), (13, 21), (1, 19), (19, 1), (64, 784), (27, 9)] {
            let src = uniformValues(rows * columns, &state)
            var want = [Float](repeating: 0, count: rows * columns)
            for r in 0..<rows { for c in 0..<columns { want[c * rows + r] = src[r * columns + c] } }
            var got = [Float](repeating: .nan, count: rows * columns)
            got.withUnsafeMutableBufferPointer { out in
                ImageKernels.toChannelsLast(src, channels: rows, area: columns, into: out.baseAddress!)
            }
            XCTAssertEqual(got, want, "\(rows)×\(columns)")
        }
    }

    func testProductOnTheCopyAgreesWithAPlainLoop() {
        let saved = BLAS.gemmLibrary
        defer { BLAS.gemmLibrary = saved }
        BLAS.gemmLibrary = .oneDNN
        var state: UInt64 = 4
        // At the fewest rows that copy, with edges past the 8×8 blocks; n and k under 512 so no
        // primitive takes the product first.
        let (m, n, k) = (BLAS.transposedCopyMinimumRows, 37, 83)
        XCTAssertGreaterThanOrEqual(m * n * k, BLAS.oneDNNMinimumWork)
        let a = uniformValues(m * k, &state)
        let b = uniformValues(n * k, &state)
        let c = uniformValues(m * n, &state)
        for copies in [true, false] {
            BLAS.copiesTransposedB = copies
            var got = c
            got.withUnsafeMutableBufferPointer { out in
                BLAS.gemm(m: m, n: n, k: k, a: a, b: b, transposeB: true, c: out.baseAddress!, alpha: 0.5, beta: 2)
            }
            for i in 0..<m {
                for j in 0..<n {
                    let dot = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[j * k + $1]) }
                    XCTAssertEqual(
                        Double(got[i * n + j]), 0.5 * dot + 2 * Double(c[i * n + j]), accuracy: 1e-4,
                        "copy \(copies) at (\(i), \(j))")
                }
            }
        }
    }
}
