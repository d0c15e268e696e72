import CDNNL

/// oneDNN's single-precision GEMM: the one place Retort calls oneDNN (through `BLAS.gemm`).
///
/// Debian's oneDNN runs its threads on OpenMP, so its thread count is OpenMP's, set beside
/// OpenBLAS's by `BLAS.threadCount`.
@usableFromInline
enum OneDNN {
    /// `C = alpha * op(A) @ op(B) + beta * C`, row-major, as `BLAS.gemm` documents. Returns false
    /// when oneDNN refuses the call (it never has for valid sizes), so the caller can fall back.
    @usableFromInline
    static func gemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, transposeA: Bool,
        b: UnsafePointer<Float>, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) -> Bool {
        let status = dnnl_sgemm(
            transposeA ? 84 : 78, transposeB ? 84 : 78,  // "T" or "N"
            Int64(m), Int64(n), Int64(k), alpha,
            a, Int64(transposeA ? m : k),
            b, Int64(transposeB ? k : n),
            beta, c, Int64(n))
        return status == dnnl_success
    }

    /// Runs `body(thread, threads)` once on each of `threads` threads of OpenMP's pool (the calling
    /// thread is thread 0) and returns when all have finished.
    @usableFromInline
    static func parallel(threads: Int, _ body: (Int, Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var context = body
            withUnsafeMutablePointer(to: &context) { pointer in
                GOMP_parallel(
                    { raw in
                        guard let raw else { return }
                        let body = raw.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                        body(Int(omp_get_thread_num()), Int(omp_get_num_threads()))
                    }, UnsafeMutableRawPointer(pointer), UInt32(threads), 0)
            }
        }
    }

    static var threadCount: Int {
        get { Int(omp_get_max_threads()) }
        set { omp_set_num_threads(Int32(newValue)) }
    }

    /// oneDNN's version, as "2.6.3".
    static var version: String {
        guard let v = dnnl_version() else { return "unknown" }
        return "\(v.pointee.major).\(v.pointee.minor).\(v.pointee.patch)"
    }
}
