import CRetortKernels
import Dispatch
import RetortTensor

/// The int8 matrix product behind quantised layers: `C[m×n] (int32) = A[m×k] (uint8, 0…127) · Bᵀ`,
/// `B[n×k]` int8 weights packed once when the layer is made. The only caller of `CRetortKernels`.
///
/// The kernel is ours (AVX2 `vpmaddubsw`/`vpmaddwd`, or plain C where AVX2 is missing), chosen over
/// oneDNN 2.6 by measurement: 1.07–1.25× oneDNN's int8 GEMM on batched shapes and 7.5× at batch 1
/// on a Zen 3 core (README, "Quantisation").
public enum Int8Kernel {
    /// Weights in the layout the kernel reads, with each row's sum (for the zero-point correction).
    public struct Packed {
        let rows: Int
        let depth: Int
        let bytes: [UInt8]
        public let rowSums: [Int32]
    }

    /// Which code path runs on this CPU: "avx512-vnni", "avx2" or "scalar".
    public static var path: String { String(cString: retort_int8_path()) }

    /// The kernel's code paths, for tests that check each one this CPU can run.
    public enum Path: CaseIterable {
        case scalar, avx2, avx512VNNI

        var code: Int32 {
            switch self {
            case .scalar: Int32(RETORT_INT8_SCALAR)
            case .avx2: Int32(RETORT_INT8_AVX2)
            case .avx512VNNI: Int32(RETORT_INT8_AVX512_VNNI)
            }
        }
    }

    public static func pack(_ weights: [Int8], rows: Int, depth: Int) -> Packed {
        precondition(weights.count == rows * depth, "int8 weights do not fill \(rows)×\(depth)")
        let size = retort_int8_pack_b(nil, Int32(rows), Int32(depth), nil, nil)
        var bytes = [UInt8](repeating: 0, count: size)
        var sums = [Int32](repeating: 0, count: rows)
        weights.withUnsafeBufferPointer { w in
            bytes.withUnsafeMutableBytes { out in
                sums.withUnsafeMutableBufferPointer { s in
                    _ = retort_int8_pack_b(w.baseAddress, Int32(rows), Int32(depth), out.baseAddress, s.baseAddress)
                }
            }
        }
        return Packed(rows: rows, depth: depth, bytes: bytes, rowSums: sums)
    }

    /// Products of at least this many multiply-adds are split by rows across `BLAS.threadCount`
    /// threads (the count `--threads` and OpenBLAS use); smaller ones are not worth the hand-off.
    static let parallelThreshold = 1 << 21

    /// `out[m×n] = a · packedᵀ` in exact int32 arithmetic; `a` holds values in 0…127. Rows are
    /// independent, so threads take contiguous blocks of them and the result is the same bytes.
    /// `q = clamp(round(x · inverse) + zero, 0, 127)` per value (ties to even, NaN to 0).
    public static func quantize(_ x: UnsafeBufferPointer<Float>, inverse: Float, zero: Int, into q: UnsafeMutablePointer<UInt8>) {
        retort_int8_quantize(x.baseAddress, x.count, inverse, Int32(zero), q)
    }

    /// Quantises images `[images, c, area]` onto the grid as `quantize` does, laid out channels last
    /// (`[images, area, c]`), the layout `im2col` reads; images split over Parallel's threads (each
    /// value quantised on its own, so the same bytes at any thread count).
    public static func quantizeChannelsLast(
        _ x: UnsafeBufferPointer<Float>, channels c: Int, area: Int, inverse: Float, zero: Int,
        into q: UnsafeMutablePointer<UInt8>
    ) {
        guard let base = x.baseAddress else { return }
        let size = Swift.max(c * area, 1)
        // About 4 operations a value: scale, round, clamp, and the byte's move to channels last.
        Parallel.forEach(x.count / size, cost: 4 * x.count) { images in
            let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
            defer { scratch.deallocate() }
            retort_int8_quantize_channels_last(
                base + images.lowerBound * size, images.count, Int32(c), Int32(area), inverse, Int32(zero), scratch,
                q + images.lowerBound * size)
        }
    }

    /// Unfolds the output rows `rows` (numbered `image · outputHeight + y`) of a convolution over
    /// channels-last quantised images into one patch per output position, in (ky, kx, channel) order.
    public static func im2col(
        _ q: UnsafePointer<UInt8>, channels c: Int, window: Window2D, zero: UInt8, outputRows rows: Range<Int>,
        into columns: UnsafeMutablePointer<UInt8>
    ) {
        retort_int8_im2col_rows(
            q, Int32(c), Int32(window.inputHeight), Int32(window.inputWidth), Int32(window.kernelHeight),
            Int32(window.kernelWidth), Int32(window.stride), Int32(window.padding), zero, rows.lowerBound, rows.count,
            columns)
    }

    /// Whether `convolveDirectly` runs on this CPU (AVX-512 VNNI or AVX2), for 1 channel or multiples of 4.
    public static let convolvesDirectly = retort_int8_direct_available() == 1

    /// A convolution's int8 weights `[O, C, kh, kw]` (C 1 or a multiple of 4) packed for `convolveDirectly`.
    public static func packDirect(_ values: [Int8], shape: [Int]) -> [Int8] {
        let (o, c, kh, kw) = (Int32(shape[0]), Int32(shape[1]), Int32(shape[2]), Int32(shape[3]))
        let size = retort_int8_pack_direct(values, o, c, kh, kw, nil)
        return [Int8](unsafeUninitializedCapacity: size) { buffer, count in
            _ = retort_int8_pack_direct(values, o, c, kh, kw, buffer.baseAddress)
            count = size
        }
    }

    /// One channels-last quantised image `[H, W, C]` with `window.padding` bytes of `zero` around,
    /// into `out`, then 4 more bytes of `zero` (`out` holds (H + 2p)·(W + 2p)·C + 4).
    public static func padChannelsLast(
        _ q: UnsafePointer<UInt8>, channels c: Int, window: Window2D, zero: UInt8, into out: UnsafeMutablePointer<UInt8>
    ) {
        retort_int8_pad_channels_last(
            q, Int32(c), Int32(window.inputHeight), Int32(window.inputWidth), Int32(window.padding), zero, out)
    }

    /// The int32 sums `[outH·outW, outputs]` of a convolution of one padded image (`padChannelsLast`)
    /// by `packed` (`packDirect`), without unfolding: the same sums as `gemm` over `im2col`'s patches.
    /// Only where `convolvesDirectly` and C is 1 or a multiple of 4; false (nothing written) otherwise.
    public static func convolveDirectly(
        _ image: UnsafePointer<UInt8>, channels c: Int, window: Window2D, _ packed: [Int8], outputs: Int,
        into acc: UnsafeMutablePointer<Int32>
    ) -> Bool {
        retort_int8_convolve_direct(
            image, Int32(c), Int32(window.inputWidth + 2 * window.padding), Int32(window.kernelHeight),
            Int32(window.kernelWidth), Int32(window.stride), Int32(window.outputHeight), Int32(window.outputWidth),
            packed, Int32(outputs), acc) == 1
    }

    /// `convolveDirectly` on one code path (`.avx2` or `.avx512VNNI`); false (nothing written) when
    /// this CPU lacks it. The two give the same sums (exact integer arithmetic).
    public static func convolveDirectly(
        _ image: UnsafePointer<UInt8>, channels c: Int, window: Window2D, _ packed: [Int8], outputs: Int,
        into acc: UnsafeMutablePointer<Int32>, on path: Path
    ) -> Bool {
        retort_int8_convolve_direct_on(
            path.code, image, Int32(c), Int32(window.inputWidth + 2 * window.padding), Int32(window.kernelHeight),
            Int32(window.kernelWidth), Int32(window.stride), Int32(window.outputHeight), Int32(window.outputWidth),
            packed, Int32(outputs), acc) == 1
    }

    /// `out = (acc − corrections[j]) · scales[j] + bias[j]` for `rows` (acc holds just those), as
    /// `[rows, outputs]`, or for a convolution (`area` positions per image) as `[images, outputs, area]`;
    /// with `relu`, negatives become 0 (NaN and −0 pass).
    public static func requantize(
        _ acc: UnsafePointer<Int32>, rows: Range<Int>, outputs: Int, corrections: [Int32], scales: [Float],
        bias: [Float], area: Int?, relu: Bool, into out: UnsafeMutablePointer<Float>
    ) {
        retort_int8_requantize(
            acc, rows.lowerBound, rows.count, Int32(outputs), corrections, scales, bias, Int32(area ?? 0), relu ? 1 : 0,
            out)
    }

    /// Two output rows of one image (`acc`: `2 · width` positions × outputs) requantised, with ReLU,
    /// and max-pooled over 2×2 windows into one pooled row: `out[j · plane + x]`.
    public static func requantizePooled(
        _ acc: UnsafePointer<Int32>, width: Int, outputs: Int, corrections: [Int32], scales: [Float], bias: [Float],
        relu: Bool, plane: Int, into out: UnsafeMutablePointer<Float>
    ) {
        retort_int8_requantize_pooled(
            acc, Int32(width), Int32(outputs), corrections, scales, bias, relu ? 1 : 0, plane, out)
    }

    /// `requantize`'s values for `rows` positions (ReLU when asked) quantised onto `grid` as
    /// `quantize` does, channels last `[rows, outputs]`: the next int8 convolution's input bytes.
    public static func requantize(
        _ acc: UnsafePointer<Int32>, rows: Int, outputs: Int, corrections: [Int32], scales: [Float], bias: [Float],
        relu: Bool, onto grid: QuantParams, into out: UnsafeMutablePointer<UInt8>
    ) {
        retort_int8_requantize_bytes(
            acc, rows, Int32(outputs), corrections, scales, bias, relu ? 1 : 0, 1 / grid.scale, Int32(grid.zeroPoint),
            out)
    }

    /// `requantizePooled`'s pooled row quantised onto `grid` as `quantize` does, channels last:
    /// `out[x · outputs + j]`.
    public static func requantizePooled(
        _ acc: UnsafePointer<Int32>, width: Int, outputs: Int, corrections: [Int32], scales: [Float], bias: [Float],
        relu: Bool, onto grid: QuantParams, into out: UnsafeMutablePointer<UInt8>
    ) {
        retort_int8_requantize_pooled_bytes(
            acc, Int32(width), Int32(outputs), corrections, scales, bias, relu ? 1 : 0, 1 / grid.scale,
            Int32(grid.zeroPoint), out)
    }

    /// `a · bᵀ` on one given code path, single-threaded; false (nothing written) when this CPU lacks it.
    public static func gemm(
        _ a: UnsafePointer<UInt8>, m: Int, _ b: Packed, into out: UnsafeMutablePointer<Int32>, on path: Path
    ) -> Bool {
        b.bytes.withUnsafeBytes { packed in
            retort_int8_gemm_on(path.code, a, Int32(m), Int32(b.depth), packed.baseAddress, Int32(b.rows), out) == 1
        }
    }

    public static func gemm(_ a: UnsafePointer<UInt8>, m: Int, _ b: Packed, into out: UnsafeMutablePointer<Int32>) {
        guard m > 0, b.rows > 0 else { return }
        if BLAS.gemmLibrary == .oneDNN {
            // On OpenMP's pool (shared with oneDNN's GEMM and the convolution loops; inside one of
            // those loops it runs on the calling thread), in whole groups of four rows, the kernel's step.
            let groups = (m + 3) / 4
            b.bytes.withUnsafeBytes { packed in
                Parallel.forEach(groups, cost: m * b.rows * b.depth / 64) { range in
                    let first = range.lowerBound * 4
                    let count = Swift.min(range.upperBound * 4, m) - first
                    guard count > 0 else { return }
                    retort_int8_gemm(
                        a + first * b.depth, Int32(count), Int32(b.depth), packed.baseAddress, Int32(b.rows),
                        out + first * b.rows)
                }
            }
            return
        }
        let threads = Swift.min(BLAS.threadCount, m / 4)
        if threads > 1, m * b.rows * b.depth >= parallelThreshold {
            // Blocks of whole groups of four rows, the kernel's step.
            let per = ((m + threads - 1) / threads + 3) / 4 * 4
            b.bytes.withUnsafeBytes { packed in
                let base = UInt(bitPattern: packed.baseAddress)
                let (aBits, outBits) = (UInt(bitPattern: a), UInt(bitPattern: out))
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    let first = t * per
                    let count = Swift.min(per, m - first)
                    guard count > 0, let rows = UnsafePointer<UInt8>(bitPattern: aBits),
                        let results = UnsafeMutablePointer<Int32>(bitPattern: outBits)
                    else { return }
                    retort_int8_gemm(
                        rows + first * b.depth, Int32(count), Int32(b.depth), UnsafeRawPointer(bitPattern: base),
                        Int32(b.rows), results + first * b.rows)
                }
            }
            return
        }
        b.bytes.withUnsafeBytes { packed in
            retort_int8_gemm(a, Int32(m), Int32(b.depth), packed.baseAddress, Int32(b.rows), out)
        }
    }
}
