import CRetortGemm

/// A linear layer's weights packed once for Retort's own AVX2 GEMM (`retort_gemm.h`), for the
/// products `BLAS.gemm` would give OpenBLAS (`BLAS.largeProductsOnOpenBLAS`, CPUs with AVX2 and no
/// AVX-512): OpenBLAS packs B again on every call and cannot be handed a packed copy, and oneDNN's
/// packed product ran these shapes slower than OpenBLAS's unpacked one on a Zen 3 (the distill
/// workload 0.78x). Used by `PackedWeights`; `PackedGemm.product(m:n:k:a:b:c:threads:)` packs a
/// plain B on the call instead (`BLAS.largeProductsOnOwnGemm`). The only Swift caller of
/// `CRetortGemm`.
///
/// A value of C adds its products in the order of the inner index whatever the thread count (the
/// threads share out the columns), so a product has the same bits at one thread and at two.
final class PackedGemm {
    let n: Int
    let k: Int
    private let packed: UnsafeMutablePointer<Float>

    /// Whether this CPU can run it (AVX2 and FMA).
    static var isAvailable: Bool { CPU.hasAVX2FMA }

    /// The packed copy's size in bytes for weights `[n, k]` (a little over theirs: columns rounded up to 16).
    static func bytes(n: Int, k: Int) -> Int { retort_gemm_packed_count(k, n) * MemoryLayout<Float>.size }

    /// Packs weights `[n, k]` (row-major) as B = weightsᵀ, `k×n`.
    init(weights: UnsafePointer<Float>, n: Int, k: Int) {
        (self.n, self.k) = (n, k)
        packed = Self.allocatePacked(k: k, n: n)
        retort_gemm_pack(weights, k, n, 1, k, packed)
    }

    deinit { Self.deallocatePacked(packed) }

    /// `c = x @ weightsᵀ` for `x` `m×k` (row-major), `c` `m×n`, the columns shared out over
    /// `threads` threads as `sharingColumns` says.
    func product(m: Int, x: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, threads: Int) {
        let (n, k, packed) = (n, k, packed)
        Self.sharingColumns(n: n, threads: threads) { first, end in
            retort_gemm_packed(x, k, m, k, n, packed, first, end, c, n)
        }
    }

    /// `c = a @ b` for `a` `m×k` and `b` `k×n` (row-major, neither transposed), B packed on this
    /// call into a copy freed after it, for `BLAS.largeProductsOnOwnGemm`. Each thread packs its own
    /// panels of 16 columns (shared out as in `product`), each as its first tile multiplies it
    /// (`retort_gemm_product`), so a value of C has the same bits at one thread and at two, and as
    /// on B packed first.
    static func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
        threads: Int
    ) {
        let packed = allocatePacked(k: k, n: n)
        defer { deallocatePacked(packed) }
        sharingColumns(n: n, threads: threads) { first, end in
            retort_gemm_product(a, k, m, k, n, b, n, packed, first, end, c, n)
        }
    }

    /// Room for B `k×n` packed (64-byte aligned, at least 16 floats); freed by `deallocatePacked`.
    private static func allocatePacked(k: Int, n: Int) -> UnsafeMutablePointer<Float> {
        let count = Swift.max(retort_gemm_packed_count(k, n), 16)
        return UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.size, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    /// Frees what `allocatePacked` gave: raw, as it was allocated with an alignment.
    private static func deallocatePacked(_ packed: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(packed).deallocate()
    }

    /// Runs `body(firstPanel, endPanel)` for the panels of 16 columns of an `n`-wide C, shared out
    /// over `threads` threads of OpenMP's pool (one thread inside a parallel region), in turn on
    /// the calling thread at one.
    private static func sharingColumns(n: Int, threads: Int, _ body: (Int, Int) -> Void) {
        let panels = (n + retort_gemm_panel_width() - 1) / retort_gemm_panel_width()
        let threads = OneDNN.inParallelRegion ? 1 : Swift.max(1, Swift.min(threads, panels))
        guard threads > 1 else { return body(0, panels) }
        OneDNN.parallel(threads: threads) { thread, running in
            body(panels * thread / running, panels * (thread + 1) / running)
        }
    }
}
