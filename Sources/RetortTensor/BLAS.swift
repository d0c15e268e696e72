import CBLAS
import Foundation

/// Time and work spent in GEMM while profiling is on (for the benchmark's efficiency figure).
public struct GemmProfile: Sendable {
    public var calls = 0
    public var flops: Double = 0
    public var seconds: Double = 0
    public init() {}
    public var gigaflopsPerSecond: Double { seconds > 0 ? flops / seconds / 1e9 : 0 }
}

/// The one place Retort calls BLAS: single-precision matrix products and BLAS configuration.
public enum BLAS {
    /// When set, every `gemm` adds its time and flops here; nil (the default) costs one branch.
    nonisolated(unsafe) public static var profile: GemmProfile?

    /// `C = alpha * op(A) @ op(B) + beta * C` on row-major matrices, where op transposes when asked.
    ///
    /// `a` is `m×k` (or `k×m` when `transposeA`), `b` is `k×n` (or `n×k`), `c` is `m×n`.
    @inlinable
    public static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, transposeA: Bool = false,
        b: UnsafePointer<Float>, transposeB: Bool = false,
        c: UnsafeMutablePointer<Float>, alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            // An empty inner dimension contributes nothing; BLAS would reject lda = 0.
            if beta == 0 {
                c.update(repeating: 0, count: m * n)
            } else if beta != 1 {
                for i in 0..<(m * n) { c[i] *= beta }
            }
            return
        }
        let started = profile == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha,
            a, blasint(transposeA ? m : k),
            b, blasint(transposeB ? k : n),
            beta, c, blasint(n))
        if profile != nil {
            profile!.calls += 1
            profile!.flops += 2 * Double(m) * Double(n) * Double(k)
            profile!.seconds += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        }
    }

    /// `y += alpha * x` over `count` elements.
    @inlinable
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    /// The number of threads OpenBLAS uses.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// The CPU kernel OpenBLAS chose (for example `Haswell` or `SkylakeX`).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS's build configuration line.
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }
}
