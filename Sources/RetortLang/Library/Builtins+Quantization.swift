import Foundation
import RetortNN
import RetortTensor

/// Post-training quantisation, quantisation-aware training and conversion to int8.
extension Builtins {
    static let quantizationRules = """
        Weights are int8, symmetric (zero point 0) on −127…127, one scale per output channel (per_channel: true) or one \
        per tensor. The input of every Linear and Conv2d is quantised affinely onto 7 bits, 0…127 (PyTorch's x86 default, \
        reduce_range: the AVX2 int8 kernel's 16-bit pair sums then cannot saturate), with a scale and zero point from its \
        observed range. The int8 model multiplies int8 by int8 with int32 sums and requantises each output to float \
        (s_in · s_w · (acc − z · Σw) + bias); activations, pooling and normalisation stay float between layers. An int8 \
        model predicts (predict, accuracy, compare, a teacher in distill) but is not trained: fine-tune the float model or \
        a qat() copy. It has no float parameters (.parameters is empty): save it and load(path) to read its int8 weights, \
        scales and zero points; export writes it to ONNX as QuantizeLinear and DequantizeLinear around each Gemm or Conv. \
        Layers that own parameters but are not Linear, Conv2d or a normalisation layer stay float, as do tensors \
        a function layer reads directly. A layer called more than once in one forward pass (one linear applied twice \
        in a function layer) is refused: an int8 layer has one input range, which its calls' inputs would share (PyTorch's \
        eager mode shares the observer silently); give each call its own layer, clone(layer).
        """

    static let quantizationBuiltins: [Builtin] = [
        Builtin(
            "quantize",
            [
                .init("model", .model), .init("calibrate", .dataset), .init("bits", .wholeNumber(), .number(8)),
                .init("per_channel", .bool, .bool(true)),
                .init("observer", .option(ObserverKind.allCases.map(\.rawValue)), .string("minmax")),
                .init("batches", .optional(.wholeNumber(min: 1)), Value.none),
            ],
            category: "model",
            summary:
                "Post-training int8 quantisation of a trained model, calibrated on data: returns a new int8 model (the float one is unchanged). observer: \"minmax\" (the extremes seen), \"percentile\" (0.01% and 99.99%: rare outliers clipped) or \"mse\" (the clipping with least squared error) chooses each input's range over the calibration batches of 256 (batches: how many; default all); calibration data holding NaN or an infinity is refused (PyTorch's observers would take a NaN or infinite range from it). "
                + quantizationRules,
            example: "let q8 = quantize(student, calibrate: train, observer: \"percentile\")"
        ) { call in
            let model = try call.model("model")
            try checkBits(call)
            let observer = try call.option("observer", as: ObserverKind.self)
            let prepared = try preparing(call, model, stage: .calibrating, observer: observer)
            try checkTrained(call, model)
            let data = try call.dataset("calibrate")
            guard data.count > 0 else {
                throw call.error("the calibration data \(data.name) has no examples to observe ranges on", at: "calibrate")
            }
            try Calibration.observe(
                prepared, on: data, batches: try call.ifGiven("batches", call.int),
                shouldStop: { [interpreter = call.interpreter] in interpreter.interrupt.isRequested })
            return .model(
                Model(
                    try converting(
                        call, prepared, model,
                        hint: "the calibration data did not reach it, or reached it only as NaN or infinite values")))
        },
        Builtin(
            "qat",
            [
                .init("model", .model), .init("bits", .wholeNumber(), .number(8)), .init("per_channel", .bool, .bool(true)),
                .init("calibrate", .optional(.dataset), Value.none),
            ],
            category: "model",
            summary:
                "A copy of a model for quantisation-aware training (the original is unchanged): every Linear and Conv2d fake-quantises its input and weights in the forward pass (quantise, then dequantise) and passes gradients straight through where the value was inside the grid, as torch.fake_quantize_per_tensor_affine / _per_channel_affine. In training mode each layer's input range follows the batches (the first sets it, then a 1% moving average, as PyTorch's MovingAverageMinMaxObserver); in eval mode (predict, accuracy, compare, as a teacher) the ranges stay as training or calibration left them, where PyTorch's observers keep observing until disable_observer(). calibrate: data runs the data through it once, in batches of 256, and sets each range to the extremes over all of it, as quantize's minmax does (a moving average there, as PyTorch's observer, would keep mostly the first batch's range); calibration data holding NaN or an infinity is refused. A qat model that has neither trained nor been calibrated refuses eval-mode use: taking its ranges from what it is first shown (a test set) would leak that data into the int8 model. Weight ranges are the current weights' per channel. Train it with fit or distill, then convert() it. "
                + quantizationRules,
            example: "let q = qat(student); distill(q, from: teacher, on: train, epochs: 3); let q8 = convert(q)"
        ) { call in
            let model = try call.model("model")
            try checkBits(call)
            let prepared = try preparing(call, model, stage: .quantizationAware, observer: .minmax)
            if let data = try call.ifGiven("calibrate", call.dataset) {
                guard data.count > 0 else {
                    throw call.error("the calibration data \(data.name) has no examples to observe ranges on", at: "calibrate")
                }
                do {
                    try Calibration.observe(
                        prepared, on: data, shouldStop: { [interpreter = call.interpreter] in interpreter.interrupt.isRequested })
                } catch { throw call.interpreter.wrap(error, at: call.range) }
            }
            return .model(Model(prepared))
        },
        Builtin(
            "convert", [.init("model", .model)], category: "model",
            summary:
                "The int8 model made from a qat() model (its trained weights and observed input ranges); the qat model is unchanged. "
                + quantizationRules,
            example: "let q8 = convert(q)"
        ) { call in
            let model = try call.model("model")
            return .model(Model(try converting(call, model.network, model)))
        },
    ]

    static func checkBits(_ call: BuiltinCall) throws {
        let bits = try call.int("bits")
        guard bits == 8 else {
            throw call.error("bits: \(bits) is not available: Retort quantises to 8 bits (int8 kernels) only", at: "bits")
        }
    }

    /// Refuses a model whose weights were never trained or loaded: quantising random weights measures nothing.
    static func checkTrained(_ call: BuiltinCall, _ model: Model) throws {
        let weights = model.network.parameters.filter { $0.shape.count >= 2 }
        guard weights.contains(where: { $0.updates > 0 }) else {
            throw call.error(
                "\(model.name ?? "the model") has not been trained or loaded (its weights are as initialised): train it or load weights before quantising",
                at: "model")
        }
    }

    static func preparing(_ call: BuiltinCall, _ model: Model, stage: FakeQuantized.Stage, observer: ObserverKind) throws
        -> Sequential
    {
        guard !Quantizer.isQuantized(model.network) else {
            throw call.error("\(model.name ?? "the model") is already an int8 model", at: "model")
        }
        let prepared: Sequential
        do {
            prepared = try Quantizer.prepare(
                model.network, stage: stage, perChannel: try call.bool("per_channel"), observer: observer)
        } catch let refusal as Quantizer.Refusal {
            throw call.error("cannot quantise \(model.name ?? "the model"): \(refusal)", at: "model")
        }
        guard Quantizer.quantizable(model.network) > 0 else {
            throw call.error("\(model.name ?? "the model") has no Linear or Conv2d layer to quantise", at: "model")
        }
        return prepared
    }

    static func converting(
        _ call: BuiltinCall, _ network: Sequential, _ model: Model,
        hint: String = "train the qat() model or calibrate it on data first"
    ) throws -> Sequential {
        do {
            return try Quantizer.convert(network, hint: hint)
        } catch let refusal as Quantizer.Refusal {
            throw call.error("cannot convert \(model.name ?? "the model"): \(refusal)", at: "model")
        }
    }
}
