/// A weight gradient's rows split over the threads by Retort, each thread's rows the ones the
/// optimizer's update then reads on that thread.
extension BLAS {
    /// Whether a product with A transposed (a linear layer's weight gradient, `dW = Gᵀ X`) at two or
    /// more threads runs as one `dnnl_sgemm` per thread on that thread's rows of C (on by default);
    /// off to compare in one process. The optimizer's update (`Parallel.forEach` over the weights)
    /// then reads on each thread the rows it wrote. oneDNN's own split of these products wrote rows
    /// on one core that the update read on the other: with the two vCPUs far apart (about 170 ns
    /// from one core to the other, as the host sometimes places them) mlp-784-512-512-10 b128's
    /// 512×784×128 ran at 164-169 GFLOPS inside training and 203-209 alone; split here, 209-216
    /// inside (docs/performance.md). Each thread's rows are computed as one thread computes them.
    nonisolated(unsafe) public static var splitsWeightGradientRows = true

    /// The fewest rows of C a thread gets from `splitsWeightGradientRows`: fewer ran slower on
    /// `dnnl_sgemm`'s one thread than the whole product on its threads.
    public static let weightGradientMinimumRowsPerThread = 32

    /// The fewest values of C (1 MB) that `splitsWeightGradientRows` splits. Smaller weights move
    /// little from core to core whichever rows a thread writes: the distillation's student
    /// (128×784) and the gpt's layers (at most 256×64) trained at 0.990x-0.999x and 0.987x-1.008x
    /// with the split, the CPUs close or far apart (`--ab weight-gradient-rows`).
    public static let weightGradientMinimumValues = 1 << 18

    /// `C = alpha * Aᵀ @ op(B) + beta * C` as `gemm` documents, C's rows split over the threads,
    /// when `splitsWeightGradientRows` applies; returns false, writing nothing, when it does not or
    /// when oneDNN refuses a part (it never has for valid sizes).
    @usableFromInline
    static func weightGradientByRows(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, transposeA: Bool, b: UnsafePointer<Float>, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) -> Bool {
        let threads = Swift.min(threadCount, m / weightGradientMinimumRowsPerThread)
        guard splitsWeightGradientRows, transposeA, threads > 1, m * n >= weightGradientMinimumValues,
            !OneDNN.inParallelRegion
        else { return false }
        // A is k×m: a thread's rows of C are its columns of A, `lda` still m.
        var refused = [Bool](repeating: false, count: threads)
        refused.withUnsafeMutableBufferPointer { refused in
            OneDNN.parallel(threads: threads) { thread, running in
                let first = m * thread / running
                let end = m * (thread + 1) / running
                refused[thread] = !OneDNN.gemm(
                    m: end - first, n: n, k: k, a: a + first, lda: m, transposeA: true, b: b,
                    ldb: transposeB ? k : n, transposeB: transposeB, c: c + first * n, ldc: n, alpha: alpha, beta: beta)
            }
        }
        return !refused.contains(true)
    }
}
