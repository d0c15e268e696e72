import Foundation
import RetortTensor
import XCTest

/// Every op's forward value and gradient against PyTorch reference vectors (float64 truth).
final class TorchReferenceTests: XCTestCase {
    typealias Op = (_ x: [Variable], _ args: [String: Any]) throws -> Variable

    static func int(_ args: [String: Any], _ key: String) -> Int { (args[key] as? NSNumber)?.intValue ?? 0 }
    static func float(_ args: [String: Any], _ key: String) -> Float? { (args[key] as? NSNumber)?.floatValue }
    static func bool(_ args: [String: Any], _ key: String) -> Bool { (args[key] as? NSNumber)?.boolValue ?? false }
    static func axes(_ args: [String: Any]) -> [Int]? { (args["axis"] as? NSNumber).map { [$0.intValue] } }
    static func reduction(_ args: [String: Any]) -> Reduction {
        Reduction(rawValue: args["reduction"] as? String ?? "mean") ?? .mean
    }
    static func ints(_ args: [String: Any], _ key: String) -> [Int] { (args[key] as? [NSNumber])?.map(\.intValue) ?? [] }

    /// One line per op: how to call Retort's version of it.
    static let ops: [String: Op] = [
        "add": { x, _ in try x[0] + x[1] },
        "sub": { x, _ in try x[0] - x[1] },
        "mul": { x, _ in try x[0] * x[1] },
        "div": { x, _ in try x[0] / x[1] },
        "pow": { x, _ in try x[0].pow(x[1]) },
        "maximum": { x, _ in try x[0].maximum(x[1]) },
        "minimum": { x, _ in try x[0].minimum(x[1]) },
        "eq": { x, _ in try x[0].compare(x[1], .eq) },
        "ne": { x, _ in try x[0].compare(x[1], .ne) },
        "lt": { x, _ in try x[0].compare(x[1], .lt) },
        "le": { x, _ in try x[0].compare(x[1], .le) },
        "gt": { x, _ in try x[0].compare(x[1], .gt) },
        "ge": { x, _ in try x[0].compare(x[1], .ge) },
        "where": { x, _ in try Variable.select(x[0], x[1], x[2]) },
        "neg": { x, _ in -x[0] },
        "exp": { x, _ in x[0].exp() },
        "log": { x, _ in x[0].log() },
        "sqrt": { x, _ in x[0].sqrt() },
        "abs": { x, _ in x[0].abs() },
        "relu": { x, _ in x[0].relu() },
        "tanh": { x, _ in x[0].tanh() },
        "sigmoid": { x, _ in x[0].sigmoid() },
        "silu": { x, _ in x[0].silu() },
        "gelu": { x, _ in x[0].gelu() },
        "leaky_relu": { x, a in x[0].leakyRelu(slope: float(a, "slope") ?? 0.01) },
        "clamp": { x, a in x[0].clamp(min: float(a, "min"), max: float(a, "max")) },
        "sum": { x, a in try x[0].sum(axes: axes(a), keepDims: bool(a, "keepdims")) },
        "mean": { x, a in try x[0].mean(axes: axes(a), keepDims: bool(a, "keepdims")) },
        "max": { x, a in try x[0].max(axis: axes(a)?.first, keepDims: bool(a, "keepdims")) },
        "min": { x, a in try x[0].min(axis: axes(a)?.first, keepDims: bool(a, "keepdims")) },
        "logsumexp": { x, a in try x[0].logSumExp(axes: axes(a), keepDims: bool(a, "keepdims")) },
        "argmax": { x, a in Variable(try x[0].value.argmax(axis: axes(a)?.first, keepDims: bool(a, "keepdims"))) },
        "reshape": { x, a in try x[0].reshaped(ints(a, "shape")) },
        "permute": { x, a in try x[0].permuted(ints(a, "dims")) },
        "transpose": { x, a in try x[0].transposed(int(a, "dim0"), int(a, "dim1")) },
        "slice": { x, a in
            let ranges = (a["ranges"] as? [[Any]] ?? []).map { r in
                SliceRange(
                    start: (r[0] as? NSNumber)?.intValue, end: (r[1] as? NSNumber)?.intValue,
                    step: (r[2] as? NSNumber)?.intValue ?? 1)
            }
            return try x[0].sliced(ranges)
        },
        "select": { x, a in try x[0].selecting(axis: int(a, "axis"), index: int(a, "index")) },
        "concat": { x, a in try Variable.concat(x, axis: int(a, "axis")) },
        "stack": { x, a in try Variable.stack(x, axis: int(a, "axis")) },
        "gather": { x, a in try x[0].gathered(axis: int(a, "axis"), index: x[1]) },
        "one_hot": { x, a in Variable(try x[0].value.oneHot(classes: int(a, "classes"))) },
        "expand": { x, a in try x[0].expanded(to: ints(a, "shape")) },
        "matmul": { x, _ in try x[0].matmul(x[1]) },
        "linear": { x, _ in try Variable.linear(x[0], weight: x[1], bias: x[2]) },
        "conv2d": { x, a in
            try Variable.conv2d(x[0], weight: x[1], bias: x[2], stride: int(a, "stride"), padding: int(a, "padding"))
        },
        "max_pool2d": { x, a in try x[0].maxPool2d(kernel: int(a, "kernel"), stride: int(a, "stride"), padding: int(a, "padding"))
        },
        "avg_pool2d": { x, a in try x[0].avgPool2d(kernel: int(a, "kernel"), stride: int(a, "stride"), padding: int(a, "padding"))
        },
        "softmax": { x, a in try x[0].softmax(axis: int(a, "axis")) },
        "log_softmax": { x, a in try x[0].logSoftmax(axis: int(a, "axis")) },
        "cross_entropy": { x, a in
            try Loss.crossEntropy(x[0], target: x[1], labelSmoothing: float(a, "label_smoothing") ?? 0, reduction: reduction(a))
        },
        "nll_loss": { x, a in try Loss.nll(x[0], target: x[1], reduction: reduction(a)) },
        "mse_loss": { x, a in try Loss.mse(x[0], x[1], reduction: reduction(a)) },
        "l1_loss": { x, a in try Loss.l1(x[0], x[1], reduction: reduction(a)) },
        "kl_div": { x, a in try Loss.klDiv(x[0], x[1], reduction: reduction(a)) },
        "bce_with_logits": { x, a in try Loss.binaryCrossEntropyWithLogits(x[0], x[1], reduction: reduction(a)) },
        "cosine_similarity": { x, a in try Loss.cosineSimilarity(x[0], x[1], axis: int(a, "axis"), eps: float(a, "eps") ?? 1e-8)
        },
        "layer_norm": { x, a in
            try Normalization.layerNorm(
                x[0], normalizedShape: ints(a, "normalized_shape"), weight: x[1], bias: x[2], eps: float(a, "eps") ?? 1e-5)
        },
        "batch_norm_train": { x, a in
            let c = x[0].shape[1]
            return try Normalization.batchNorm(
                x[0], weight: x[1], bias: x[2], runningMean: .zeros([c]), runningVar: .ones([c]), training: true,
                momentum: float(a, "momentum") ?? 0.1, eps: float(a, "eps") ?? 1e-5
            ).output
        },
        "batch_norm_eval": { x, a in
            try Normalization.batchNorm(
                x[0], weight: x[1], bias: x[2], runningMean: x[3].value, runningVar: x[4].value, training: false,
                eps: float(a, "eps") ?? 1e-5
            ).output
        },
    ]

    func testEveryOpMatchesPyTorch() throws {
        let cases = try FixtureCase.load("ops", bundle: .module)
        XCTAssertGreaterThan(cases.count, 300, "the fixture file should hold every op's cases")
        var covered = Set<String>()
        for json in cases {
            let c = FixtureCase(name: json["name"] as? String ?? "?", op: json["op"] as? String ?? "?", json: json)
            guard let op = Self.ops[c.op] else {
                XCTFail("\(c.name): no Retort op for '\(c.op)'")
                continue
            }
            covered.insert(c.op)
            do {
                let inputs = try c.inputs.map { spec in
                    Variable(try tensor(spec), requiresGrad: (spec["dtype"] as? String) != "int")
                }
                let output = try op(inputs, c.args)
                assertClose(output.value, try tensor(json["output"]), "\(c.name) output")
                if c.op == "batch_norm_train" {
                    let result = try Normalization.batchNorm(
                        inputs[0], weight: inputs[1], bias: inputs[2], runningMean: .zeros([inputs[0].shape[1]]),
                        runningVar: .ones([inputs[0].shape[1]]), training: true)
                    assertClose(result.runningMean, try tensor(json["running_mean"]), "\(c.name) running_mean")
                    assertClose(result.runningVar, try tensor(json["running_var"]), "\(c.name) running_var")
                }
                guard let cotangent = json["cotangent"] else { continue }
                try output.backward(seed: try tensor(cotangent))
                for (i, expected) in (json["grads"] as? [Any] ?? []).enumerated() where !(expected is NSNull) {
                    let want = try tensor(expected)
                    assertClose(inputs[i].grad ?? .zeros(want.shape), want, "\(c.name) grad[\(i)]")
                }
            } catch {
                XCTFail("\(c.name): \(error)")
            }
        }
        XCTAssertEqual(covered, Set(Self.ops.keys), "every Retort op should have PyTorch cases")
    }
}
