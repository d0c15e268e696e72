import CRetortImage

/// The one caller of CRetortImage: a convolution's unfolding (im2col) and folding back (col2im),
/// and 2×2 max pooling, in C, where the short per-row copies and the pooling's compare-and-selects
/// vectorise instead of costing a library call or a scalar loop per row.
enum ImageKernels {
    /// Whether stride-1 folding (`col2im`) takes its AVX-512 rows: on CPUs that have it; tests turn
    /// it off to check the baseline loop too.
    nonisolated(unsafe) static var wideRows = CPU.hasAVX512

    /// Unfolds one image `[C, H, W]` into columns `[C·kh·kw, outH·outW]`, rows `rowStride` apart, so
    /// the images of a batch can fill side-by-side column blocks of one matrix and share a GEMM.
    static func im2col(
        _ image: UnsafePointer<Float>, channels: Int, window: Window2D, into cols: UnsafeMutablePointer<Float>,
        rowStride: Int
    ) {
        var w = window.c
        retort_im2col(image, channels, &w, cols, rowStride)
    }

    /// Folds columns back into an image, adding overlapping taps (the adjoint of `im2col`).
    static func col2im(
        _ cols: UnsafePointer<Float>, channels: Int, window: Window2D, into image: UnsafeMutablePointer<Float>,
        rowStride: Int
    ) {
        var w = window.c
        retort_col2im(cols, channels, &w, image, rowStride, wideRows ? 1 : 0)
    }

    /// `dst[0..<count] = src[0..<count]`, value `i` also added into `sums[i % 16]` (16 floats);
    /// with `reluOutput`, 0 instead where it is <= 0 (ReLU's backward, fused).
    static func copySumming(
        _ src: UnsafePointer<Float>, maskedBy reluOutput: UnsafePointer<Float>? = nil,
        into dst: UnsafeMutablePointer<Float>, count: Int, sums: UnsafeMutablePointer<Float>
    ) {
        retort_copy_summing(src, reluOutput, dst, count, sums)
    }

    /// 2×2 max pooling, stride 2, no padding, over the planes in `planes`; `argmax` (when not nil)
    /// receives each winner's flat offset in `x`.
    static func maxPool2x2(
        _ x: UnsafePointer<Float>, planes: Range<Int>, height: Int, width: Int, into out: UnsafeMutablePointer<Float>,
        argmax: UnsafeMutablePointer<Int32>?
    ) {
        retort_max_pool_2x2(x, planes.lowerBound, planes.upperBound, height, width, out, argmax)
    }
    /// One image `[C, area]` transposed to channels last, `[area, C]`.
    static func toChannelsLast(_ image: UnsafePointer<Float>, channels: Int, area: Int, into out: UnsafeMutablePointer<Float>) {
        retort_to_channels_last(image, channels, area, out)
    }

    /// One image `[C, H, W]` channels last with `padding` zeros around: `[H + 2p, W + 2p, C]`.
    static func toChannelsLast(
        _ image: UnsafePointer<Float>, channels: Int, height: Int, width: Int, padding: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        retort_to_channels_last_padded(image, channels, height, width, padding, out)
    }

    /// The vectors a direct convolution (`convolveChannelsLast`) runs on.
    enum DirectVectors: CaseIterable {
        /// 16 lanes, 32 registers: 7 positions × 32 output channels a step; few taps: up to 16 taps'
        /// weights in registers, 14 positions a step.
        case avx512
        /// 8 lanes, 16 registers (AVX2 and FMA, a Zen 3): 6 positions × 16 output channels a step; few
        /// taps: up to 9, 6 positions a step. The same sums in the same order, so the same values.
        case avx2

        /// The most taps (kh·kw·C) whose weights the few-taps loop holds in registers.
        var fewTapsAtMost: Int { self == .avx512 ? 16 : 9 }

        /// The positions of an output row the few-taps loop takes a step (rows must be this wide).
        var fewTapsPositions: Int { self == .avx512 ? 14 : 6 }

        /// Whether this CPU runs these vectors.
        var isAvailable: Bool { self == .avx512 ? CPU.hasAVX512 : CPU.hasAVX2FMA }
    }

    /// The vectors `convolveChannelsLast` uses: AVX-512 where the CPU has it, else AVX2 with FMA, else
    /// none (inference then unfolds; `Convolution.Method`). Tests set the narrower one on a CPU with
    /// both, to check it gives the same values.
    nonisolated(unsafe) static var directVectors: DirectVectors? =
        CPU.hasAVX512 ? .avx512 : CPU.hasAVX2FMA ? .avx2 : nil

    /// A convolution straight from a padded channels-last image (from `toChannelsLast(padding:)`)
    /// on `directVectors`, which the caller checks are set: `[outH·outW, O]` channels last into `out`.
    /// `weights` `[kh·kw·C, O rounded up to 16]`, taps in (ky, kx, c) order, the padding columns 0.
    static func convolveChannelsLast(
        _ image: UnsafePointer<Float>, channels: Int, window: Window2D, weights: UnsafePointer<Float>,
        outChannels: Int, into out: UnsafeMutablePointer<Float>
    ) {
        var w = window.c
        let paddedWidth = window.inputWidth + 2 * window.padding
        switch (directVectors ?? .avx2, convolvesFewTaps(channels: channels, window: window)) {
        case (.avx512, true): retort_convolve_few_taps_avx512(image, channels, paddedWidth, &w, weights, out, outChannels)
        case (.avx512, false):
            retort_convolve_channels_last_avx512(image, channels, paddedWidth, &w, weights, out, outChannels)
        case (.avx2, true): retort_convolve_few_taps_avx2(image, channels, paddedWidth, &w, weights, out, outChannels)
        case (.avx2, false): retort_convolve_channels_last_avx2(image, channels, paddedWidth, &w, weights, out, outChannels)
        }
    }

    /// Whether `convolveChannelsLast` holds every tap's weights in a register: at most
    /// `fewTapsAtMost` taps (kh·kw·C; 16 with AVX-512, 9 with AVX2) and output rows at least
    /// `fewTapsPositions` wide (14, 6), the bench's one-channel 3×3 first layer. The same sums as
    /// the general loop, in the same order.
    static func convolvesFewTaps(channels: Int, window: Window2D) -> Bool {
        guard let vectors = directVectors else { return false }
        return Tensor.convolvesFewTapsDirectly && channels < 4
            && window.kernelHeight * window.kernelWidth * channels <= vectors.fewTapsAtMost
            && window.outputWidth >= vectors.fewTapsPositions
    }

    /// `x` `[H·W, C]` with each channel's `bias` added and ReLU when `relu`, into the padded
    /// channels-last image `[H + 2p, W + 2p, C]`: the next convolution's input as `toChannelsLast(padding:)`
    /// would make it from the channels-first values.
    static func finishChannelsLast(
        _ x: UnsafePointer<Float>, height: Int, width: Int, channels: Int, bias: UnsafePointer<Float>, relu: Bool,
        padding: Int, into out: UnsafeMutablePointer<Float>
    ) {
        retort_finish_channels_last_padded(x, height, width, channels, bias, relu ? 1 : 0, padding, out)
    }

    /// One channels-last image `[H, W, C]` pooled as `maxPool2x2ChannelsLast` pools it, then
    /// `finishChannelsLast` on the pooled `[H/2, W/2, C]`, in one pass: the same values.
    static func poolFinishChannelsLast(
        _ x: UnsafePointer<Float>, height: Int, width: Int, channels: Int, bias: UnsafePointer<Float>, relu: Bool,
        padding: Int, into out: UnsafeMutablePointer<Float>
    ) {
        retort_pool_finish_channels_last_padded(x, height, width, channels, bias, relu ? 1 : 0, padding, out)
    }

    /// `x` `[area, C]` back to channels first, `[C, area]`, each channel's `bias` added and then
    /// ReLU (negatives to 0; NaN and −0 pass) when `relu`.
    static func toChannelsFirst(
        _ x: UnsafePointer<Float>, area: Int, channels: Int, bias: UnsafePointer<Float>, relu: Bool,
        into out: UnsafeMutablePointer<Float>
    ) {
        retort_to_channels_first(x, area, channels, bias, relu ? 1 : 0, out)
    }

    /// Unfolds one channels-last image `[H, W, C]` into `cols` `[outH·outW, kh·kw·C]`, one row per
    /// output position, taps in (ky, kx, c) order.
    static func im2colChannelsLast(
        _ image: UnsafePointer<Float>, channels: Int, window: Window2D, into cols: UnsafeMutablePointer<Float>
    ) {
        var w = window.c
        retort_im2col_channels_last(image, channels, &w, cols)
    }

    /// `maxPool2x2` on channels-last images `[images, H, W, C]` into `[images, H/2, W/2, C]`: the
    /// same taps in the same order, so the same winners.
    static func maxPool2x2ChannelsLast(
        _ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        retort_max_pool_2x2_channels_last(x, images, height, width, channels, out)
    }
}

extension Window2D {
    fileprivate var c: retort_window {
        retort_window(
            kernel_height: kernelHeight, kernel_width: kernelWidth, stride: stride, padding: padding,
            input_height: inputHeight, input_width: inputWidth, output_height: outputHeight, output_width: outputWidth)
    }
}
