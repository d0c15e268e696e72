import CBLAS

/// Large products on OpenBLAS where oneDNN is otherwise chosen, on CPUs without AVX-512.
extension BLAS {
    /// `C = alpha * op(A) @ op(B) + beta * C` on OpenBLAS, as `gemm` documents, for
    /// `largeProductsOnOpenBLAS`: C in `largeProductParts` parts, one single-threaded OpenBLAS call
    /// each, on OpenMP's pool (the pool Retort's own loops run on) at two or more threads outside a
    /// parallel region, in turn otherwise. OpenBLAS's own threads, idling hot after each product
    /// while OpenMP's ran the loops between (and the other way round), left the b128 MLP at a fifth
    /// of its speed at two threads. A weight gradient (A transposed) by rows, the rows the
    /// optimizer's update then reads on the same thread; other products by columns, in multiples of
    /// 16, so each thread reads half of B (the weights).
    @usableFromInline
    static func largeProductOnOpenBLAS(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, transposeA: Bool, b: UnsafePointer<Float>, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float
    ) {
        let (lda, ldb) = (transposeA ? m : k, transposeB ? k : n)
        let parts = Swift.min(largeProductParts, transposeA ? m / 32 : n / 16)
        guard parts > 1 else {
            largeProductThreadsForTesting = 1
            openBLASProduct(
                m: m, n: n, k: k, a: a, lda: lda, transposeA: transposeA, b: b, ldb: ldb, transposeB: transposeB,
                c: c, ldc: n, alpha: alpha, beta: beta)
            return
        }
        // Before OpenBLAS is set to one thread: `threadCount` reads OpenBLAS's.
        let threads = OneDNN.inParallelRegion ? 1 : Swift.min(threadCount, parts)
        largeProductThreadsForTesting = threads
        let openBLASThreads = openblas_get_num_threads()
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(openBLASThreads) }
        if threads == 1 {
            for part in 0..<parts { product(part, parts) }
        } else {
            OneDNN.parallel(threads: threads) { thread, running in
                for part in stride(from: thread, to: parts, by: running) { product(part, parts) }
            }
        }
        func product(_ part: Int, _ parts: Int) {
            if transposeA {
                // A is k×m: a part's rows of C are its columns of A.
                let rows = m * part / parts..<m * (part + 1) / parts
                openBLASProduct(
                    m: rows.count, n: n, k: k, a: a + rows.lowerBound, lda: lda, transposeA: true, b: b, ldb: ldb,
                    transposeB: transposeB, c: c + rows.lowerBound * n, ldc: n, alpha: alpha, beta: beta)
            } else {
                let blocks = (n + 15) / 16
                let columns =
                    Swift.min(n, 16 * (blocks * part / parts))..<Swift.min(n, 16 * (blocks * (part + 1) / parts))
                guard !columns.isEmpty else { return }
                openBLASProduct(
                    m: m, n: columns.count, k: k, a: a, lda: lda, transposeA: transposeA,
                    b: b + columns.lowerBound * (transposeB ? k : 1), ldb: ldb, transposeB: transposeB,
                    c: c + columns.lowerBound, ldc: n, alpha: alpha, beta: beta)
            }
        }
    }

    /// `c = a @ b` (neither transposed) on Retort's own AVX2 GEMM, B packed on this call, for
    /// `largeProductsOnOwnGemm`: the columns shared out over the threads as `largeProductOnOpenBLAS`
    /// shares them, each value the same bits at one thread and at two.
    @usableFromInline
    static func largeProductOnOwnGemm(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    ) {
        PackedGemm.product(m: m, n: n, k: k, a: a, b: b, c: c, threads: threadCount)
    }

    /// The parts `largeProductOnOpenBLAS` splits C into, however many threads run them (one runs
    /// them in turn), so a product has the same bits at one thread and at two: where OpenBLAS's own
    /// threads split it, the b128 MLP trained to other bits at two threads than at one.
    public static let largeProductParts = 2

    /// The threads the last `largeProductOnOpenBLAS` ran its parts on (for tests).
    nonisolated(unsafe) static var largeProductThreadsForTesting = 0
}
