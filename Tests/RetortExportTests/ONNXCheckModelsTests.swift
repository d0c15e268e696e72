import Foundation
import RetortExport
import RetortTensor
import XCTest

/// Three small models written through the builder, with inputs and the outputs plain loops give,
/// for `Tests/Export/check_onnx_writer.py` to load with `onnx`, check and run in onnxruntime.
///
/// They check the writer, not Retort's layers: an MLP with a dynamic batch dimension, a CNN with
/// BatchNormalization and pooling, and a QDQ block whose uint8, int8 and int32 tensors prove the
/// integer encodings. `RETORT_ONNX_OUT=/tmp/onnx-check swift test --filter ONNXCheckModelsTests`
/// writes `NAME.onnx` and `NAME.json` (inputs and expected outputs) there; unset, nothing is written.
final class ONNXCheckModelsTests: XCTestCase {
    /// One model with its test input and expected output, both float32.
    private struct Check {
        let name: String
        let model: ModelProto
        let input: (name: String, dims: [Int], values: [Float])
        let output: (name: String, dims: [Int], values: [Float])
    }

    func testBuildsTheCheckModelsAndWritesThemWhenAsked() throws {
        let checks = try [mlp(), cnn(), qdq()]
        for check in checks {
            XCTAssertFalse(check.model.serialized().isEmpty)
            XCTAssertEqual(check.output.values.count, check.output.dims.reduce(1, *), check.name)
            XCTAssertTrue(check.output.values.allSatisfy(\.isFinite), check.name)
        }
        guard let folder = ProcessInfo.processInfo.environment["RETORT_ONNX_OUT"], !folder.isEmpty else { return }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for check in checks {
            let base = URL(fileURLWithPath: folder).appendingPathComponent(check.name)
            try check.model.write(to: base.appendingPathExtension("onnx").path)
            let json: [String: Any] = [
                "inputs": [check.input.name: ["dims": check.input.dims, "data": check.input.values.map(Double.init)]],
                "outputs": [check.output.name: ["dims": check.output.dims, "data": check.output.values.map(Double.init)]],
            ]
            try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
                .write(to: base.appendingPathExtension("json"))
        }
    }

    // MARK: - Values

    private var generator = RandomGenerator(seed: 2026)

    private func values(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in generator.nextNormal() * scale }
    }

    /// `out[n][o] = bias[o] + Σ_i x[n][i] · w[o][i]`: Gemm with transB = 1, accumulated in Double.
    private func gemm(_ x: [Float], rows: Int, _ w: [Float], _ bias: [Float]) -> [Float] {
        let (outputs, inner) = (bias.count, w.count / bias.count)
        var out: [Float] = []
        for n in 0..<rows {
            for o in 0..<outputs {
                var sum = Double(bias[o])
                for i in 0..<inner { sum += Double(x[n * inner + i]) * Double(w[o * inner + i]) }
                out.append(Float(sum))
            }
        }
        return out
    }

    // MARK: - (i) MLP with a dynamic batch

    /// `x [batch, 2, 2]` → Reshape to `[-1, 4]` (an int64 initializer) → Gemm → Relu → Gemm → `y [batch, 3]`.
    private func mlp() throws -> Check {
        let batch = 5
        let (w1, b1, w2, b2) = (values(8 * 4), values(8, scale: 0.1), values(3 * 8), values(3, scale: 0.1))
        var builder = try ONNXGraphBuilder(name: "mlp")
        let x = try builder.addInput(name: "x", shape: ["batch", 2, 2])
        let shape = try builder.addInitializer(name: "flat_shape", int64: [-1, 4], dims: [2])
        let fc1w = try builder.addInitializer(name: "fc1.weight", tensor: Tensor(shape: [8, 4], scalars: w1))
        let fc1b = try builder.addInitializer(name: "fc1.bias", tensor: Tensor(shape: [8], scalars: b1))
        let fc2w = try builder.addInitializer(name: "fc2.weight", tensor: Tensor(shape: [3, 8], scalars: w2))
        let fc2b = try builder.addInitializer(name: "fc2.bias", tensor: Tensor(shape: [3], scalars: b2))
        let flat = try builder.addNode(opType: "Reshape", inputs: [x, shape])
        let h = try builder.addNode(opType: "Gemm", inputs: [flat, fc1w, fc1b], attributes: [.int("transB", 1)], name: "fc1")
        let r = try builder.addNode(opType: "Relu", inputs: [h])
        try builder.addNode(
            opType: "Gemm", inputs: [r, fc2w, fc2b], outputs: ["y"], attributes: [.int("transB", 1)], name: "fc2")
        try builder.addOutput(name: "y", shape: ["batch", 3])

        let input = values(batch * 4)
        let hidden = gemm(input, rows: batch, w1, b1).map { max($0, 0) }
        let y = gemm(hidden, rows: batch, w2, b2)
        return Check(
            name: "mlp", model: builder.model(producerVersion: "test"), input: ("x", [batch, 2, 2], input),
            output: ("y", [batch, 3], y))
    }

    // MARK: - (ii) CNN

    /// `x [batch, 2, 6, 6]` → Conv 3×3 pad 1 → BatchNormalization → Relu → MaxPool 2×2 → Flatten → Gemm → `y [batch, 5]`.
    private func cnn() throws -> Check {
        let (batch, cin, cout, side, classes) = (2, 2, 4, 6, 5)
        let convW = values(cout * cin * 9, scale: 0.3)
        let convB = values(cout, scale: 0.1)
        let gamma = (0..<cout).map { 1 + 0.1 * Float($0) }
        let beta = values(cout, scale: 0.1)
        let mean = values(cout, scale: 0.2)
        let variance = (0..<cout).map { 0.5 + 0.25 * Float($0) }
        let epsilon: Float = 1e-5
        let pooled = side / 2
        let fcW = values(classes * cout * pooled * pooled, scale: 0.2)
        let fcB = values(classes, scale: 0.1)

        var builder = try ONNXGraphBuilder(name: "cnn")
        let x = try builder.addInput(name: "x", shape: ["batch", .value(cin), .value(side), .value(side)])
        let w = try builder.addInitializer(name: "conv.weight", tensor: Tensor(shape: [cout, cin, 3, 3], scalars: convW))
        let b = try builder.addInitializer(name: "conv.bias", tensor: Tensor(shape: [cout], scalars: convB))
        var bnInputs: [String] = []
        for (name, values) in [("bn.weight", gamma), ("bn.bias", beta), ("bn.running_mean", mean), ("bn.running_var", variance)] {
            bnInputs.append(try builder.addInitializer(name: name, floats: values, dims: [cout]))
        }
        let fw = try builder.addInitializer(name: "fc.weight", floats: fcW, dims: [classes, cout * pooled * pooled])
        let fb = try builder.addInitializer(name: "fc.bias", floats: fcB, dims: [classes])
        var v = try builder.addNode(
            opType: "Conv", inputs: [x, w, b],
            attributes: [.ints("kernel_shape", [3, 3]), .ints("pads", [1, 1, 1, 1]), .ints("strides", [1, 1])])
        v = try builder.addNode(opType: "BatchNormalization", inputs: [v] + bnInputs, attributes: [.float("epsilon", epsilon)])
        v = try builder.addNode(opType: "Relu", inputs: [v])
        v = try builder.addNode(
            opType: "MaxPool", inputs: [v], attributes: [.ints("kernel_shape", [2, 2]), .ints("strides", [2, 2])])
        v = try builder.addNode(opType: "Flatten", inputs: [v], attributes: [.int("axis", 1)])
        try builder.addNode(opType: "Gemm", inputs: [v, fw, fb], outputs: ["logits"], attributes: [.int("transB", 1)])
        try builder.addOutput(name: "logits", shape: ["batch", .value(classes)])

        let input = values(batch * cin * side * side)
        var features: [Float] = []
        for n in 0..<batch {
            // Conv, BatchNormalization and Relu into one channel-major map, then 2×2 max pooling.
            var map = [Float](repeating: 0, count: cout * side * side)
            for o in 0..<cout {
                for row in 0..<side {
                    for col in 0..<side {
                        var sum = Double(convB[o])
                        for c in 0..<cin {
                            for dr in 0..<3 {
                                for dc in 0..<3 {
                                    let (r, q) = (row + dr - 1, col + dc - 1)
                                    guard r >= 0, r < side, q >= 0, q < side else { continue }
                                    sum +=
                                        Double(input[((n * cin + c) * side + r) * side + q])
                                        * Double(convW[((o * cin + c) * 3 + dr) * 3 + dc])
                                }
                            }
                        }
                        let normalized = (Float(sum) - mean[o]) / (variance[o] + epsilon).squareRoot() * gamma[o] + beta[o]
                        map[(o * side + row) * side + col] = max(normalized, 0)
                    }
                }
            }
            for o in 0..<cout {
                for row in 0..<pooled {
                    for col in 0..<pooled {
                        let window = [(0, 0), (0, 1), (1, 0), (1, 1)].map {
                            map[(o * side + 2 * row + $0.0) * side + 2 * col + $0.1]
                        }
                        features.append(window.max() ?? 0)
                    }
                }
            }
        }
        let logits = gemm(features, rows: batch, fcW, fcB)
        return Check(
            name: "cnn", model: builder.model(producerVersion: "test"), input: ("x", [batch, cin, side, side], input),
            output: ("logits", [batch, classes], logits))
    }

    // MARK: - (iii) QDQ

    /// `x [batch, 6]` → QuantizeLinear (uint8, zero point 64) → DequantizeLinear, times an int8 weight
    /// DequantizeLinear'd per output channel (axis 0, non-zero int8 zero points), plus an int32 bias
    /// DequantizeLinear'd at scale `sx · sw[o]` → Gemm → `y [batch, 4]`.
    private func qdq() throws -> Check {
        let (batch, inner, outputs) = (3, 6, 4)
        // A power-of-two scale makes x / scale exact, so no rounding is a tie that runtimes may break differently.
        let inputScale: Float = 1.0 / 32
        let inputZeroPoint: UInt8 = 64
        let weightScales: [Float] = [0.01, 0.02, 0.005, 0.03]
        let weightZeroPoints: [Int8] = [0, 1, -2, 3]
        let weights: [Int8] = (0..<outputs * inner).map { _ in Int8(generator.nextInt(below: 256) - 128) }
        let bias: [Int32] = (0..<outputs).map { _ in Int32(generator.nextInt(below: 2001) - 1000) }
        let biasScales = weightScales.map { inputScale * $0 }

        var builder = try ONNXGraphBuilder(name: "qdq")
        let x = try builder.addInput(name: "x", shape: ["batch", .value(inner)])
        let sx = try builder.addInitializer(name: "x.scale", floats: [inputScale], dims: [])
        let zx = try builder.addInitializer(name: "x.zero_point", uint8: [inputZeroPoint], dims: [])
        let wq = try builder.addInitializer(name: "fc.weight.quantized", int8: weights, dims: [outputs, inner])
        let sw = try builder.addInitializer(name: "fc.weight.scale", floats: weightScales, dims: [outputs])
        let zw = try builder.addInitializer(name: "fc.weight.zero_point", int8: weightZeroPoints, dims: [outputs])
        let bq = try builder.addInitializer(name: "fc.bias.quantized", int32: bias, dims: [outputs])
        let sb = try builder.addInitializer(name: "fc.bias.scale", floats: biasScales, dims: [outputs])
        let xq = try builder.addNode(opType: "QuantizeLinear", inputs: [x, sx, zx])
        let xd = try builder.addNode(opType: "DequantizeLinear", inputs: [xq, sx, zx])
        let wd = try builder.addNode(opType: "DequantizeLinear", inputs: [wq, sw, zw], attributes: [.int("axis", 0)])
        let bd = try builder.addNode(opType: "DequantizeLinear", inputs: [bq, sb], attributes: [.int("axis", 0)])
        try builder.addNode(opType: "Gemm", inputs: [xd, wd, bd], outputs: ["y"], attributes: [.int("transB", 1)])
        try builder.addOutput(name: "y", shape: ["batch", .value(outputs)])

        // Inputs a quarter step past a grid point, from below the uint8 range to above it, so both
        // rounding and saturation at 0 and 255 are exercised.
        let steps = (0..<batch * inner).map { _ in Float(generator.nextInt(below: 300) - 90) }
        var input = steps.map { ($0 + 0.25) * inputScale }
        input[0] = -100 * inputScale  // well below 0 once shifted by the zero point
        input[1] = 250 * inputScale  // well above 255
        let dequantizedInput = input.map { value -> Float in
            let level = min(max((value / inputScale).rounded(.toNearestOrEven) + Float(inputZeroPoint), 0), 255)
            return (level - Float(inputZeroPoint)) * inputScale
        }
        let dequantizedWeights = (0..<outputs * inner).map { k in
            Float(Int(weights[k]) - Int(weightZeroPoints[k / inner])) * weightScales[k / inner]
        }
        let dequantizedBias = (0..<outputs).map { Float(bias[$0]) * biasScales[$0] }
        let y = gemm(dequantizedInput, rows: batch, dequantizedWeights, dequantizedBias)
        return Check(
            name: "qdq", model: builder.model(producerVersion: "test"), input: ("x", [batch, inner], input),
            output: ("y", [batch, outputs], y))
    }
}
