import XCTest

@testable import RetortTensor

/// The C image loops (ImageKernels) against their definitions: unfolding at every kernel, stride,
/// padding and size the loops branch on (rows narrower than four floats, overlapping last groups),
/// folding as its adjoint, 2×2 max pooling with and without offsets, and a convolution done in
/// chunks (inference) against the whole batch at once, with ReLU applied in the same pass.
final class ImageKernelsTests: XCTestCase {
    /// Every tap of an unfolding by `w` over `channels`: its row, its column within the row, and the
    /// input offset it reads, or nil where it falls on padding.
    private func taps(_ w: Window2D, channels: Int, _ body: (_ row: Int, _ column: Int, _ input: Int?) -> Void) {
        for c in 0..<channels {
            for ky in 0..<w.kernelHeight {
                for kx in 0..<w.kernelWidth {
                    let row = (c * w.kernelHeight + ky) * w.kernelWidth + kx
                    for oy in 0..<w.outputHeight {
                        for ox in 0..<w.outputWidth {
                            let (y, x) = (oy * w.stride - w.padding + ky, ox * w.stride - w.padding + kx)
                            let inside = y >= 0 && y < w.inputHeight && x >= 0 && x < w.inputWidth
                            body(row, oy * w.outputWidth + ox, inside ? (c * w.inputHeight + y) * w.inputWidth + x : nil)
                        }
                    }
                }
            }
        }
    }

    /// The folding loops each CPU can take: the baseline's, and the AVX-512 rows where the CPU has them.
    private func eachRowKind(_ body: (String) throws -> Void) rethrows {
        let saved = ImageKernels.wideRows
        defer { ImageKernels.wideRows = saved }
        for wide in [false] + (CPU.hasAVX512 ? [true] : []) {
            ImageKernels.wideRows = wide
            try body(wide ? "AVX-512 rows" : "baseline rows")
        }
    }

    func testUnfoldingMatchesTheDefinition() throws {
        let channels = 2
        try ImageCases.windows { w in
            let image = ImageCases.values(channels * w.inputHeight * w.inputWidth, seed: 1)
            let area = w.outputHeight * w.outputWidth
            let rowStride = area + 3  // a gap after each row, which must stay untouched
            let rows = channels * w.kernelHeight * w.kernelWidth
            var cols = [Float](repeating: 99, count: rows * rowStride)
            image.withUnsafeBufferPointer { x in
                cols.withUnsafeMutableBufferPointer { c in
                    ImageKernels.im2col(x.baseAddress!, channels: channels, window: w, into: c.baseAddress!, rowStride: rowStride)
                }
            }
            taps(w, channels: channels) { row, column, input in
                let expected = input.map { image[$0] } ?? 0
                XCTAssertEqual(cols[row * rowStride + column], expected, "\(w) row \(row) column \(column)")
            }
            for row in 0..<rows {
                for gap in area..<rowStride { XCTAssertEqual(cols[row * rowStride + gap], 99, "\(w) wrote past row \(row)") }
            }
        }
    }

    func testFoldingAddsEachColumnWhereItWasTaken() throws {
        let channels = 2
        try eachRowKind { kind in
            try ImageCases.windows { w in
                let area = w.outputHeight * w.outputWidth
                let cols = ImageCases.values(channels * w.kernelHeight * w.kernelWidth * area, seed: 2)
                var image = ImageCases.values(channels * w.inputHeight * w.inputWidth, seed: 3)
                var expected = image
                taps(w, channels: channels) { row, column, input in
                    if let input { expected[input] += cols[row * area + column] }
                }
                cols.withUnsafeBufferPointer { s in
                    image.withUnsafeMutableBufferPointer { x in
                        ImageKernels.col2im(s.baseAddress!, channels: channels, window: w, into: x.baseAddress!, rowStride: area)
                    }
                }
                XCTAssertEqual(image, expected, "\(kind) \(w)")
            }
        }
    }

    func testMaxPoolAtEveryWidthWithAndWithoutOffsets() throws {
        for (h, w) in [(2, 2), (2, 3), (3, 4), (4, 6), (2, 7), (5, 8), (4, 9), (3, 14), (2, 17), (6, 28)] {
            let (n, c) = (2, 3)
            var scalars = ImageCases.values(n * c * h * w, seed: h * 31 + w)
            for i in stride(from: 5, to: scalars.count, by: 13) { scalars[i] = .nan }
            let x = try Tensor(shape: [n, c, h, w], scalars: scalars)
            let (kept, argmax) = try Tensor.maxPool2d(x, kernel: 2, stride: 2, padding: 0)
            let (alone, none) = try Tensor.maxPool2d(x, kernel: 2, stride: 2, padding: 0, keepsArgmax: false)
            XCTAssertNil(none)
            let offsets = try XCTUnwrap(argmax)
            let (oh, ow) = (h / 2, w / 2)
            for plane in 0..<(n * c) {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        let top = plane * h * w + 2 * oy * w + 2 * ox
                        var (best, at) = (scalars[top], top)
                        for tap in [top + 1, top + w, top + w + 1] where (scalars[tap] > best) != scalars[tap].isNaN {
                            (best, at) = (scalars[tap], tap)
                        }
                        let o = (plane * oh + oy) * ow + ox
                        XCTAssertEqual(Int(offsets[o]), at, "\(h)×\(w) offset at \(o)")
                        XCTAssertEqual(kept.scalars[o].bitPattern, best.bitPattern, "\(h)×\(w) value at \(o)")
                        XCTAssertEqual(alone.scalars[o].bitPattern, best.bitPattern, "\(h)×\(w) value without offsets at \(o)")
                    }
                }
            }
        }
    }

    /// Inference convolves channels last, training channels first, each a few images at a time
    /// (each thread its own chunks). Same values up to the order of the sums, with ReLU in the pass
    /// the same as relu() after it.
    func testConvolutionInChunksMatchesTheWholeBatch() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        // 11 images of 9·20·20 taps: several chunks, the last one short.
        let (n, c, size, out) = (11, 9, 20, 5)
        XCTAssertLessThan(Tensor.chunkFloats / (c * 9 * size * size), n / 2, "the batch must take several chunks")
        var scalars = ImageCases.values(n * c * size * size, seed: 4).map { $0 / 8 }
        scalars[17] = .nan
        let x = try Tensor(shape: [n, c, size, size], scalars: scalars)
        let w = try Tensor(shape: [out, c, 3, 3], scalars: ImageCases.values(out * c * 9, seed: 5).map { $0 / 16 })
        let b = try Tensor(shape: [out], scalars: ImageCases.values(out, seed: 6))
        let whole = try Tensor.conv2d(x, weight: w, bias: b, stride: 1, padding: 1).output
        for (library, threads) in [(GemmLibrary.openBLAS, 1), (.oneDNN, 1), (.oneDNN, 2)] {
            (BLAS.gemmLibrary, BLAS.threadCount) = (library, threads)
            let chunked = try Tensor.conv2dInference(x, weight: w, bias: b, stride: 1, padding: 1)
            let fused = try Tensor.conv2dInference(x, weight: w, bias: b, stride: 1, padding: 1, relu: true)
            let label = "\(library) at \(threads) thread(s)"
            XCTAssertEqual(chunked.shape, whole.shape)
            for (i, (a, e)) in zip(chunked.scalars, whole.scalars).enumerated() {
                XCTAssertTrue(
                    a == e || (a.isNaN && e.isNaN) || abs(a - e) <= 1e-5 * abs(e), "\(label): \(a) against \(e) at \(i)")
                let r = fused.scalars[i]
                XCTAssertEqual(r.bitPattern, (a < 0 ? 0 : a).bitPattern, "\(label): ReLU in the pass at \(i)")
            }
            XCTAssertTrue(chunked.scalars.contains { $0.isNaN }, "the NaN input reached the output")
        }
    }

    /// Training unfolds chunk by chunk and takes the gradients chunk by chunk: the same as
    /// each image on its own (one chunk each), added up. Whole numbers over 8 and 16, so every sum
    /// is exact in any order.
    func testTrainingInChunksMatchesImageByImage() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        let (n, c, size, out) = (11, 9, 20, 5)
        let imageCount = c * size * size
        let xs = ImageCases.values(n * imageCount, seed: 7).map { $0 / 8 }
        let gs = ImageCases.values(n * out * size * size, seed: 8)
        let w = try Tensor(shape: [out, c, 3, 3], scalars: ImageCases.values(out * c * 9, seed: 9).map { $0 / 16 })
        let b = try Tensor(shape: [out], scalars: ImageCases.values(out, seed: 10))
        func gradients(_ first: Int, _ count: Int) throws -> (output: [Float], input: [Float], weight: [Float], bias: [Float]) {
            let x = try Tensor(
                shape: [count, c, size, size], scalars: Array(xs[(first * imageCount)..<((first + count) * imageCount)]))
            let area = out * size * size
            let g = try Tensor(shape: [count, out, size, size], scalars: Array(gs[(first * area)..<((first + count) * area)]))
            let forward = try Tensor.conv2d(x, weight: w, bias: b, stride: 1, padding: 1)
            let back = Tensor.conv2dBackward(
                gradient: g, input: x, weight: w, window: forward.window, needsInput: true)
            return (forward.output.scalars, back.input?.scalars ?? [], back.weight.scalars, back.bias.scalars)
        }
        var single: (output: [Float], input: [Float], weight: [Float], bias: [Float]) = ([], [], [], [])
        for i in 0..<n {
            let one = try gradients(i, 1)
            single.output += one.output
            single.input += one.input
            single.weight = single.weight.isEmpty ? one.weight : zip(single.weight, one.weight).map { $0 + $1 }
            single.bias = single.bias.isEmpty ? one.bias : zip(single.bias, one.bias).map { $0 + $1 }
        }
        for (library, threads) in [(GemmLibrary.openBLAS, 1), (.oneDNN, 1), (.oneDNN, 2)] {
            (BLAS.gemmLibrary, BLAS.threadCount) = (library, threads)
            let batch = try gradients(0, n)
            let label = "\(library) at \(threads) thread(s)"
            XCTAssertEqual(batch.output, single.output, "\(label): output")
            XCTAssertEqual(batch.input, single.input, "\(label): input gradient")
            XCTAssertEqual(batch.weight, single.weight, "\(label): weight gradient")
            XCTAssertEqual(batch.bias, single.bias, "\(label): bias gradient")
        }
    }
}
