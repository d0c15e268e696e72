import RetortGraph
import RetortNN
import RetortTensor

// int8 layers in QDQ form: the float input goes through QuantizeLinear and DequantizeLinear on the
// layer's input grid, the int8 weights through DequantizeLinear, and a float MatMul or Conv reads
// both, which runtimes may fuse into integer kernels. A linear layer's float bias is a separate
// Add after the Gemm (or MatMul): onnxruntime fuses Gemm into its integer QGemm (MatMul into
// MatMulIntegerToFloat) only when every input is dequantized, so a float bias inside would keep it
// in float, and quantizing the bias to int32 would round it where Retort does not. (onnxruntime
// runs Conv as written, dequantized: its integer Conv wants the output quantized too.)
//
// Retort quantises the input as q = clamp(round(x / s) + z, 0, 127), ties to even, as ONNX's
// QuantizeLinear rounds. Its grid is 7 bits, a subset of uint8: QuantizeLinear alone would let a
// value above the calibrated range reach 128…255 where Retort stops at 127. A Clip at the float
// that maps to 127, (127 − z) · s, comes first, so both saturate at the same code. (Retort
// multiplies by 1/s where QuantizeLinear divides by s; the two round differently only when x/s is
// within an ulp of a half, which moves that input by one step.)

extension ONNXExport.Translation {
    /// An int8 fully connected layer: Gemm (MatMul above rank 2) of the dequantized input and weights, then the float bias.
    mutating func int8Linear(_ node: Graph.Node) throws -> String {
        guard let layer = node.owner as? QuantizedLinear else {
            throw cannotExpress(node, because: "it does not name the QuantizedLinear whose weights it uses")
        }
        let prefix = layerPrefix(layer)
        let x = try quantizedInput(node, layer.weights, prefix)
        let weight = try dequantizedWeights(layer.weights, prefix)
        let bias = try bias(layer.weights, prefix)
        let product = try linear(x, rank: inputShape(node, 0).count, weight: weight, bias: nil)
        return try bias.map { try emit("Add", [product, $0]) } ?? product
    }

    /// An int8 convolution: Conv of the dequantized input and kernels, plus the float bias.
    mutating func int8Conv2d(_ node: Graph.Node) throws -> String {
        guard let layer = node.owner as? QuantizedConv2d else {
            throw cannotExpress(node, because: "it does not name the QuantizedConv2d whose weights it uses")
        }
        let prefix = layerPrefix(layer)
        let x = try quantizedInput(node, layer.weights, prefix)
        let weight = try dequantizedWeights(layer.weights, prefix)
        let bias = try bias(layer.weights, prefix)
        return try emit(
            "Conv", [x, weight] + (bias.map { [$0] } ?? []),
            convolution(kernel: Array(layer.weights.shape.suffix(2)), stride: layer.stride, padding: layer.padding))
    }

    /// `1.` for the layer at `1`, nothing for a model that is itself the int8 layer.
    private func layerPrefix(_ layer: Layer) -> String {
        let name = layerNames[ObjectIdentifier(layer)] ?? ""
        return name.isEmpty ? "" : name + "."
    }

    /// Clip → QuantizeLinear → DequantizeLinear on the layer's input grid (uint8 zero point in 0…127).
    private mutating func quantizedInput(_ node: Graph.Node, _ weights: Int8Weights, _ prefix: String) throws -> String {
        let (scale, zero) = (weights.input.scale, weights.input.zeroPoint)
        let scaleName = try builder.addInitializer(name: builder.freshName(prefix + "input_scale"), floats: [scale], dims: [])
        let zeroName = try builder.addInitializer(
            name: builder.freshName(prefix + "input_zero_point"), uint8: [UInt8(clamping: zero)], dims: [])
        let top = Float(QuantGrid.activations.max - zero) * scale
        let clipped = try emit(
            "Clip",
            [
                input(node, 0), "",
                builder.addInitializer(
                    name: builder.freshName(prefix + "input_max"), floats: [top], dims: []),
            ])
        let quantized = try emit("QuantizeLinear", [clipped, scaleName, zeroName])
        return try emit("DequantizeLinear", [quantized, scaleName, zeroName])
    }

    /// DequantizeLinear of the int8 weights: per output channel (axis 0, given explicitly) or per
    /// tensor, with int8 zero points of 0 (Retort's weights are symmetric).
    private mutating func dequantizedWeights(_ weights: Int8Weights, _ prefix: String) throws -> String {
        let perChannel = weights.scales.count > 1
        let dims = perChannel ? [weights.scales.count] : []
        let values = try builder.addInitializer(
            name: builder.freshName(prefix + "weight"), int8: weights.values, dims: weights.shape)
        let scales = try builder.addInitializer(
            name: builder.freshName(prefix + "weight_scale"), floats: weights.scales, dims: dims)
        let zeros = try builder.addInitializer(
            name: builder.freshName(prefix + "weight_zero_point"), int8: [Int8](repeating: 0, count: weights.scales.count),
            dims: dims)
        return try emit("DequantizeLinear", [values, scales, zeros], perChannel ? [.int("axis", 0)] : [])
    }

    private mutating func bias(_ weights: Int8Weights, _ prefix: String) throws -> String? {
        guard let bias = weights.bias else { return nil }
        return try builder.addInitializer(name: builder.freshName(prefix + "bias"), floats: bias, dims: [bias.count])
    }
}
