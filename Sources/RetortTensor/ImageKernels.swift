import CRetortImage

/// The one caller of CRetortImage: a convolution's unfolding (im2col) and folding back (col2im),
/// and 2×2 max pooling, in C, where the short per-row copies and the pooling's compare-and-selects
/// vectorise instead of costing a library call or a scalar loop per row.
enum ImageKernels {
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
        retort_col2im(cols, channels, &w, image, rowStride)
    }

    /// 2×2 max pooling, stride 2, no padding, over the planes in `planes`; `argmax` (when not nil)
    /// receives each winner's flat offset in `x`.
    static func maxPool2x2(
        _ x: UnsafePointer<Float>, planes: Range<Int>, height: Int, width: Int, into out: UnsafeMutablePointer<Float>,
        argmax: UnsafeMutablePointer<Int32>?
    ) {
        retort_max_pool_2x2(x, planes.lowerBound, planes.upperBound, height, width, out, argmax)
    }
}

extension Window2D {
    fileprivate var c: retort_window {
        retort_window(
            kernel_height: kernelHeight, kernel_width: kernelWidth, stride: stride, padding: padding,
            input_height: inputHeight, input_width: inputWidth, output_height: outputHeight, output_width: outputWidth)
    }
}
