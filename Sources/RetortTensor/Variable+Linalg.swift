extension Variable {
    /// The matrix product with `torch.matmul` semantics (vectors, matrices, broadcast batches).
    public func matmul(_ other: Variable) throws -> Variable {
        let (x, y) = (value, other.value)
        let out = try x.matmul(y)
        return Variable.make(out, [self, other], op: .matmul) { g in
            // Promote vectors to matrices, differentiate the matrix product, then undo the promotion.
            let a = x.rank == 1 ? x.withShape([1, x.shape[0]]) : x
            let b = y.rank == 1 ? y.withShape([y.shape[0], 1]) : y
            let m = a.shape[a.rank - 2]
            let n = b.shape[b.rank - 1]
            let batch = Array(out.shape.dropLast((x.rank > 1 ? 1 : 0) + (y.rank > 1 ? 1 : 0)))
            let g2 = g.withShape(batch + [m, n])
            let ga: Tensor? =
                self.requiresGrad
                ? try! g2.matmul(b.transposed()).summed(toShape: a.shape).withShape(x.shape) : nil
            let gb: Tensor? =
                other.requiresGrad
                ? try! a.transposed().matmul(g2).summed(toShape: b.shape).withShape(y.shape) : nil
            return [ga, gb]
        }
    }

    /// `x @ weightᵀ + bias` for `x` of shape `[..., in]`, `weight` `[out, in]`, `bias` `[out]`:
    /// PyTorch's `F.linear`, fused into one GEMM each way.
    public static func linear(_ input: Variable, weight: Variable, bias: Variable?) throws -> Variable {
        let (x, w) = (input.value, weight.value)
        let out = try linearOutput(x, weight: w, bias: bias?.value, relu: false)
        let (inFeatures, outFeatures) = (w.shape[1], w.shape[0])
        let rows = x.count / Swift.max(inFeatures, 1)
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        return make(out, parents, op: .linear) { g in
            g.withUnsafeBufferPointer { pg in
                var grads: [Tensor?] = []
                grads.append(
                    input.requiresGrad
                        ? w.withUnsafeBufferPointer { pw in
                            Tensor(shape: x.shape) { gx in
                                BLAS.gemm(
                                    m: rows, n: inFeatures, k: outFeatures, a: pg.baseAddress!, b: pw.baseAddress!,
                                    c: gx.baseAddress!)
                            }
                        } : nil)
                grads.append(
                    weight.requiresGrad
                        ? x.withUnsafeBufferPointer { px in
                            Tensor(shape: w.shape) { gw in
                                BLAS.gemm(
                                    m: outFeatures, n: inFeatures, k: rows, a: pg.baseAddress!, transposeA: true,
                                    b: px.baseAddress!, c: gw.baseAddress!)
                            }
                        } : nil)
                if bias != nil {
                    grads.append(
                        Tensor(shape: [outFeatures]) { gb in
                            Parallel.forEach(outFeatures, cost: rows * outFeatures) { mine in
                                VectorMath.columnSums(
                                    pg.baseAddress! + mine.lowerBound, times: nil, rows: rows, stride: outFeatures,
                                    columns: mine.count, into: gb.baseAddress! + mine.lowerBound)
                            }
                        })
                }
                return grads
            }
        }
    }

    /// 2-D convolution of `[N, C, H, W]` by `[O, C, kh, kw]` plus an optional `[O]` bias.
    public static func conv2d(_ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0) throws
        -> Variable
    {
        let (x, w) = (input.value, weight.value)
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        let op = Op("conv2d", [("stride", .int(stride)), ("padding", .int(padding))])
        // Without a gradient to take (what `make` checks too), inference's channels-last path.
        guard takesGradient(parents) else {
            let output = try Tensor.conv2dInference(x, weight: w, bias: bias?.value, stride: stride, padding: padding)
            return make(output, parents, op: op) { _ in parents.map { _ in nil } }
        }
        let result = try Tensor.conv2d(x, weight: w, bias: bias?.value, stride: stride, padding: padding)
        return make(result.output, parents, op: op) { g in
            let grads = Tensor.conv2dBackward(
                gradient: g, input: x, weight: w, window: result.window, needsInput: input.requiresGrad)
            return [grads.input, grads.weight] + (bias == nil ? [] : [grads.bias])
        }
    }

    /// A linear layer followed by ReLU in one pass (ReLU applied as the bias is added), for
    /// inference: the same values as `linear` then `relu()`. Nil, having done nothing, when they must
    /// stay apart: when a gradient can be taken or a trace is recording (as `conv2dReLU`).
    public static func linearReLU(_ input: Variable, weight: Variable, bias: Variable?) throws -> Variable? {
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        guard Tape.recorder == nil, !takesGradient(parents) else { return nil }
        return Variable(try linearOutput(input.value, weight: weight.value, bias: bias?.value, relu: true))
    }

    /// `x @ wᵀ + bias`, then ReLU when `relu`, with `linear`'s checks.
    private static func linearOutput(_ x: Tensor, weight w: Tensor, bias b: Tensor?, relu: Bool) throws -> Tensor {
        guard w.rank == 2, x.rank >= 1, x.shape[x.rank - 1] == w.shape[1] else {
            throw TensorError(
                .shape,
                "linear",
                "input \(formatShape(x.shape)) does not match weight \(formatShape(w.shape)): expected [..., \(w.rank == 2 ? w.shape[1] : 0)]"
            )
        }
        let (inFeatures, outFeatures) = (w.shape[1], w.shape[0])
        if let b, b.shape != [outFeatures] {
            throw TensorError(.shape, "linear", "bias \(formatShape(b.shape)) does not match \(outFeatures) output features")
        }
        let rows = x.count / Swift.max(inFeatures, 1)
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        // Many rows of a narrow input times a wide layer is larger than either: checked, as matmul's product is.
        try MemoryBudget.check("linear", outShape)
        return x.withUnsafeBufferPointer { px in
            Tensor(shape: outShape) { po in
                // On weights packed once where they are used again unchanged (inference), else one GEMM.
                PackedWeights.linearProduct(
                    m: rows, n: outFeatures, k: inFeatures, x: px.baseAddress!, weights: w, c: po.baseAddress!)
                // The bias (and ReLU) after the product, while the product is in cache (copied in
                // first, for a GEMM to add to, it was a pass over memory not yet in cache); rows split
                // over Parallel's threads, as its gradient's columns are below.
                guard b != nil || relu else { return }
                let row = b?.storage.pointer
                Parallel.forEach(rows, cost: rows * outFeatures) { mine in
                    VectorMath.addRow(
                        row, columns: outFeatures, rows: mine.count, to: po.baseAddress! + mine.lowerBound * outFeatures,
                        relu: relu)
                }
                withExtendedLifetime(b) {}
            }
        }
    }

    /// A convolution followed by ReLU in one pass (ReLU applied as the bias is added), and by 2×2
    /// max pooling (stride 2, no padding) when `maxPool2x2`, for inference: the same values as
    /// `conv2d`, `relu()` and `maxPool2d(kernel: 2)` one after the other. Returns nil, having done
    /// nothing, when they must stay apart: when a gradient can be taken (GradMode on and any input
    /// requiring one) or when a trace is recording, which keeps each operation for export and `graph`.
    public static func conv2dReLU(
        _ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0, maxPool2x2: Bool = false
    ) throws -> Variable? {
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        guard Tape.recorder == nil, !takesGradient(parents) else { return nil }
        return Variable(
            try Tensor.conv2dInference(
                input.value, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, relu: true,
                maxPool2x2: maxPool2x2))
    }

    /// Whether `conv2dReLUTraining` fuses (true); false sends training through `conv2d` and `relu()`,
    /// for `retort bench --ab conv-relu` and the tests that compare the two.
    nonisolated(unsafe) public static var fusesTrainingReLU = true

    /// A convolution followed by ReLU for training, one pass each way: ReLU applied as the bias is
    /// added, and its backward as each chunk reads the output gradient (`Tensor.conv2d(relu:)`,
    /// `conv2dBackward(reluOutput:)`). The same values and gradients as `conv2d` then `relu()`,
    /// without the pre-activation output kept in memory. Nil, having done nothing, when no gradient
    /// can be taken (`conv2dReLU` is inference's) or a trace is recording, which keeps both operations.
    public static func conv2dReLUTraining(
        _ input: Variable, weight: Variable, bias: Variable?, stride: Int = 1, padding: Int = 0
    ) throws -> Variable? {
        let parents = [input, weight] + (bias.map { [$0] } ?? [])
        guard fusesTrainingReLU, Tape.recorder == nil, takesGradient(parents) else { return nil }
        let (x, w) = (input.value, weight.value)
        let result = try Tensor.conv2d(x, weight: w, bias: bias?.value, stride: stride, padding: padding, relu: true)
        let output = result.output
        let op = Op("conv2d_relu", [("stride", .int(stride)), ("padding", .int(padding))])
        return make(output, parents, op: op) { g in
            let grads = Tensor.conv2dBackward(
                gradient: g, reluOutput: output, input: x, weight: w, window: result.window,
                needsInput: input.requiresGrad)
            return [grads.input, grads.weight] + (bias == nil ? [] : [grads.bias])
        }
    }

    /// Convolutions, each with ReLU and, when its `maxPool2x2`, a 2×2 max pool, one after the other
    /// in one call for inference (`Tensor.conv2dInferenceChain`): the same values as `conv2dReLU`
    /// step by step. Nil, having done nothing, when a gradient can be taken or a trace is recording.
    public static func conv2dReLUChain(
        _ input: Variable,
        steps: [(weight: Variable, bias: Variable?, stride: Int, padding: Int, maxPool2x2: Bool)]
    ) throws -> Variable? {
        let parents = [input] + steps.flatMap { [$0.weight] + ($0.bias.map { [$0] } ?? []) }
        guard Tape.recorder == nil, !takesGradient(parents) else { return nil }
        return Variable(
            try Tensor.conv2dInferenceChain(
                input.value,
                steps: steps.map {
                    ConvolutionStep(
                        weight: $0.weight.value, bias: $0.bias?.value, stride: $0.stride, padding: $0.padding,
                        maxPool2x2: $0.maxPool2x2)
                }))
    }

    /// 2-D max pooling with a square window.
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) throws -> Variable {
        let x = value
        // The winners' offsets are kept only when a gradient can be taken (what `make` checks too).
        let (out, offsets) = try Tensor.maxPool2d(
            x, kernel: kernel, stride: stride ?? kernel, padding: padding, keepsArgmax: Variable.takesGradient([self]))
        let argmax = offsets ?? []
        return Variable.make(out, [self], op: Op.pool("max_pool2d", kernel: kernel, stride: stride ?? kernel, padding: padding)) {
            g in
            // Plane by plane (a window never leaves its plane, so a plane's winners are in it):
            // each plane zeroed, then its outputs' gradients added at their winners in output
            // order, the same sums as over the whole tensor at once; planes split over threads.
            let planes = x.shape[0] * x.shape[1]
            let (planeSize, outputsPerPlane) = (x.count / Swift.max(planes, 1), g.count / Swift.max(planes, 1))
            let gx = g.withUnsafeBufferPointer { pg in
                argmax.withUnsafeBufferPointer { arg in
                    Tensor(shape: x.shape) { px in
                        Parallel.forEach(planes, cost: 2 * (x.count + g.count)) { mine in
                            for plane in mine {
                                let zeroed = px.baseAddress! + plane * planeSize
                                zeroed.update(repeating: 0, count: planeSize)
                                for i in plane * outputsPerPlane..<(plane + 1) * outputsPerPlane {
                                    px[Int(arg[i])] += pg[i]
                                }
                            }
                        }
                    }
                }
            }
            return [gx]
        }
    }

    /// 2-D average pooling with a square window (padding counted in the average).
    public func avgPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) throws -> Variable {
        let inputShape = shape
        let (out, window) = try Tensor.avgPool2d(value, kernel: kernel, stride: stride ?? kernel, padding: padding)
        return Variable.make(out, [self], op: Op.pool("avg_pool2d", kernel: kernel, stride: stride ?? kernel, padding: padding)) {
            g in
            [Tensor.avgPool2dBackward(gradient: g, inputShape: inputShape, window: window)]
        }
    }
}
