/// One convolution of `Tensor.conv2dInferenceChain`: its weight `[O, C, kh, kw]`, bias, stride and
/// padding, then ReLU, then a 2×2 max pool (stride 2) when `maxPool2x2`.
public struct ConvolutionStep {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride, padding: Int
    public let maxPool2x2: Bool

    public init(weight: Tensor, bias: Tensor?, stride: Int, padding: Int, maxPool2x2: Bool) {
        (self.weight, self.bias, self.stride, self.padding, self.maxPool2x2) = (weight, bias, stride, padding, maxPool2x2)
    }
}

extension Tensor {
    /// Convolutions with ReLU (and a 2×2 max pool) one after the other, for inference: the same
    /// values as `conv2dInference(relu: true, ...)` step by step. Where the next convolution goes
    /// `.direct` (AVX-512 or AVX2; `Convolution.Method`) and this step's bias is finite, the output stays
    /// channels last, padded for it, with the bias and ReLU written on the way: the transposes to
    /// channels first and back, about 10% of the bench's CNN, are skipped and the values are the
    /// ones the transposes would give. Errors are the steps' own, in their order.
    public static func conv2dInferenceChain(_ input: Tensor, steps: [ConvolutionStep]) throws -> Tensor {
        guard let first = steps.first else { return input }
        var x = input
        var conv = try Convolution(
            input: input, weight: first.weight, bias: first.bias, stride: first.stride, padding: first.padding)
        for (k, step) in steps.enumerated() {
            var next: Convolution?
            if k + 1 < steps.count, !(step.bias?.scalars.contains { $0.isInfinite } ?? false) {
                // Only probed: a step that cannot follow raises its error when it runs, after this one's.
                let (oh, ow) = (conv.window.outputHeight, conv.window.outputWidth)
                let shape = [conv.images, conv.outChannels] + (step.maxPool2x2 ? [oh / 2, ow / 2] : [oh, ow])
                let following = steps[k + 1]
                if var candidate = try? Convolution(
                    inputShape: shape, weight: following.weight, bias: following.bias, stride: following.stride,
                    padding: following.padding), candidate.method == .direct
                {
                    candidate.paddedInput = true
                    next = candidate
                }
            }
            x = try conv2dInference(
                x, conv, weight: step.weight, bias: step.bias, relu: true, maxPool2x2: step.maxPool2x2,
                outputPadding: next?.window.padding)
            guard k + 1 < steps.count else { break }
            let following = steps[k + 1]
            conv =
                try next
                ?? Convolution(
                    input: x, weight: following.weight, bias: following.bias, stride: following.stride,
                    padding: following.padding)
        }
        return x
    }
}
