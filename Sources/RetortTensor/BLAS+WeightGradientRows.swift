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
    /// (128×784) and the gpt's layers (at most 256×64) trained at 0.990x-0.999x and 0.987x-1.011x
    /// with the split, the CPUs close or far apart (`--ab weight-gradient-rows`).
    public static let weightGradientMinimumValues = 1 << 18

    /// For tests: the thread whose part `weightGradientByRows` treats as refused by oneDNN, without
    /// calling it, so the fallback is exercised; nil (the default) refuses none.
    nonisolated(unsafe) static var refusesWeightGradientPartForTesting: Int?

    /// `C = alpha * Aᵀ @ op(B) + beta * C` as `gemm` documents, C's rows split over the threads,
    /// when `splitsWeightGradientRows` applies; returns false, writing nothing, when it does not. A
    /// part oneDNN refuses (it never has for valid sizes; its workspace could fail to allocate) is
    /// done again on OpenBLAS, as that part alone: the parts already written are not written twice.
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
        let ldb = transposeB ? k : n
        var refused = [Range<Int>?](repeating: nil, count: threads)
        refused.withUnsafeMutableBufferPointer { refused in
            OneDNN.parallel(threads: threads) { thread, running in
                let rows = m * thread / running..<m * (thread + 1) / running
                let done =
                    refusesWeightGradientPartForTesting != thread
                    && OneDNN.gemm(
                        m: rows.count, n: n, k: k, a: a + rows.lowerBound, lda: m, transposeA: true, b: b, ldb: ldb,
                        transposeB: transposeB, c: c + rows.lowerBound * n, ldc: n, alpha: alpha, beta: beta)
                refused[thread] = done ? nil : rows
            }
        }
        for case let rows? in refused {
            openBLASProduct(
                m: rows.count, n: n, k: k, a: a + rows.lowerBound, lda: m, transposeA: true, b: b, ldb: ldb,
                transposeB: transposeB, c: c + rows.lowerBound * n, ldc: n, alpha: alpha, beta: beta)
        }
        return true
    }
}
