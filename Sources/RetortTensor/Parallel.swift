import Foundation

/// Loops split over the threads the GEMM uses, for the work that is not a GEMM: a convolution's
/// chunks of images (each thread runs its chunks' GEMMs itself: oneDNN's GEMM inside a parallel
/// loop stays on its thread), pooling and max pooling's gradient (plane by plane), the int8 kernels'
/// blocks and rows, the transformer's own passes (attention's (image, head) pairs, layer norm's
/// lanes, GELU), ReLU, the linear layer's bias (added over rows; its gradient's column sums), the
/// optimizers' updates, and sums, differences, products and quotients of same-shaped tensors and the
/// gradients' accumulation (`Tensor.splitsElementwise`: each thread keeps the rows the ops around
/// them give it). (The other elementwise ops were measured on it too and gained nothing; they stay
/// serial, docs/performance.md.)
///
/// They run on OpenMP's pool, the one oneDNN's GEMM runs on, so Retort's loops and its GEMM never
/// compete for cores; where OpenBLAS runs the GEMM (`BLAS.gemmLibrary`), loops stay on the calling
/// thread (a pool of Dispatch threads beside OpenBLAS's own was measured slower on every training
/// workload). Only loops whose iterations write disjoint outputs are split, and each iteration
/// computes what it would on one thread, so a result is the same bit for bit at any thread count.
public enum Parallel {
    /// Scalar operations below which a loop is not split: handing out a range costs about a
    /// microsecond, more than smaller loops take. `RETORT_PARALLEL_THRESHOLD` (a whole number >= 0)
    /// overrides it; 0 turns splitting off, for measuring. The command line refuses any other value.
    nonisolated(unsafe) public static var threshold: Int = thresholdSetting.value ?? 1 << 15

    /// `RETORT_PARALLEL_THRESHOLD` as given, and its value when it is a whole number >= 0.
    public static var thresholdSetting: (text: String?, value: Int?) {
        guard let text = getenv("RETORT_PARALLEL_THRESHOLD").map({ String(cString: $0) }) else { return (nil, nil) }
        guard let value = Int(text), value >= 0 else { return (text, nil) }
        return (text, value)
    }

    /// Calls `body` on ranges that together cover `0..<count`, on up to `BLAS.threadCount` threads
    /// when `cost` (the loop's scalar operations, roughly) is large enough, and returns when all are done.
    @inlinable
    public static func forEach(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
        let threads =
            threshold == 0 || BLAS.gemmLibrary != .oneDNN ? 1 : Swift.min(BLAS.threadCount, count, cost / threshold)
        guard threads > 1 else {
            body(0..<count)
            return
        }
        OneDNN.parallel(threads: threads) { thread, running in
            body(count * thread / running..<count * (thread + 1) / running)
        }
    }

    /// Calls `body` on ranges covering `0..<count` values, split as `forEach` splits blocks of 64
    /// values: each range but the last starts and ends on a multiple of 64, so a vector loop and its
    /// scalar tail see the values they would in one call. Every elementwise loop over a tensor splits
    /// it this way, so on two threads each takes the same half of the tensor's rows, the half that
    /// `forEach` over those rows (layer norm's lanes, attention's images) gives it.
    @inlinable
    public static func forEachBlock(_ count: Int, cost: Int, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let blocks = (count + 63) / 64
        forEach(blocks, cost: cost) { mine in body(mine.lowerBound * 64..<Swift.min(count, mine.upperBound * 64)) }
    }
}
