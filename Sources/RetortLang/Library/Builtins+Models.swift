import RetortNN
import RetortTensor

extension Builtins {
    static func layer(_ call: BuiltinCall, _ layer: Layer) -> Value { .model(Model(Sequential([layer]), isLayer: true)) }

    /// What `sequential` and `mlp`'s activation take as layers.
    static let layerType = ParameterType.oneOf([.model, .function(of: "one tensor")])

    /// The layers a `sequential` item stands for: a model's layers, or a function as one layer.
    static func layers(from argument: CallArgument, named name: String, _ call: BuiltinCall) throws -> [Layer] {
        switch argument.value {
        case .model(let m): return m.network.layers
        case .function(let f):
            if case .builtin(let b) = f, let kind = activationKinds[b.name] { return [Activation(kind)] }
            if case .builtin(let b) = f, b.name == "flatten" { return [Flatten()] }
            return [FunctionLayer(argument.value, label: f.name, interpreter: call.interpreter, range: argument.range)]
        default:
            throw call.fail(name, got: argument.value, at: argument.range)
        }
    }

    static let activationKinds: [String: Activation.Kind] = [
        "relu": .relu, "tanh": .tanh, "sigmoid": .sigmoid, "gelu": .gelu, "silu": .silu,
    ]

    static let modelBuiltins: [Builtin] = [
        Builtin(
            "linear",
            [.init("inputs", .wholeNumber(min: 1)), .init("outputs", .wholeNumber(min: 1)), .init("bias", .bool, .bool(true))],
            category: "model",
            summary: "A fully connected layer (PyTorch's nn.Linear and its initialisation).", example: "linear(64, 10)"
        ) { call in
            let (inputs, outputs) = (try call.int("inputs"), try call.int("outputs"))
            try budget(call, [outputs, inputs])
            return layer(call, Linear(inputs, outputs, bias: try call.bool("bias"), generator: &call.interpreter.generator))
        },
        Builtin(
            "conv2d",
            [
                .init("inputs", .wholeNumber(min: 1)), .init("outputs", .wholeNumber(min: 1)),
                .init("kernel", .wholeNumber(min: 1)),
                .init("stride", .wholeNumber(min: 1), .number(1)), .init("padding", .wholeNumber(min: 0), .number(0)),
            ],
            category: "model",
            summary:
                "A 2-D convolution layer over [N, C, H, W]. Without gradients (no_grad, a frozen model) it sums in another order, for speed, so results can differ from a call with gradients by float rounding.",
            example: "conv2d(1, 16, 3, padding: 1)"
        ) { call in
            let (inputs, outputs, kernel) = (try call.int("inputs"), try call.int("outputs"), try call.int("kernel"))
            try budget(call, [outputs, inputs, kernel, kernel])
            return layer(
                call,
                Conv2d(
                    inputs, outputs, kernel: kernel, stride: try call.int("stride"), padding: try call.int("padding"),
                    generator: &call.interpreter.generator))
        },
        Builtin(
            "max_pool", [.init("kernel", .wholeNumber(min: 1)), .init("stride", .optional(.wholeNumber(min: 1)), Value.none)],
            category: "model",
            summary: "A 2-D max-pooling layer.", example: "max_pool(2)"
        ) { call in
            layer(call, Pool2d(.max, kernel: try call.int("kernel"), stride: try call.ifGiven("stride", call.int)))
        },
        Builtin(
            "avg_pool", [.init("kernel", .wholeNumber(min: 1)), .init("stride", .optional(.wholeNumber(min: 1)), Value.none)],
            category: "model",
            summary: "A 2-D average-pooling layer.", example: "avg_pool(2)"
        ) { call in
            layer(call, Pool2d(.average, kernel: try call.int("kernel"), stride: try call.ifGiven("stride", call.int)))
        },
        Builtin(
            "dropout", [.init("p", .fraction(includingOne: false))], category: "model",
            summary: "Inverted dropout, active only while training.",
            example: "dropout(0.2)"
        ) { call in
            layer(call, Dropout(try call.float("p"), generator: &call.interpreter.generator))
        },
        Builtin(
            "batch_norm", [.init("channels", .wholeNumber(min: 1))], category: "model",
            summary: "Batch normalisation over [N, C] or [N, C, H, W], with running statistics.", example: "batch_norm(32)"
        ) { call in
            let channels = try call.int("channels")
            try budget(call, [channels, 4])
            return layer(call, BatchNorm(channels))
        },
        Builtin(
            "layer_norm", [.init("size", .wholeNumbers(min: 1))], category: "model",
            summary: "Layer normalisation over the last dimension(s).",
            example: "layer_norm(64)"
        ) { call in
            let size = try call.ints("size")
            guard !size.isEmpty else { throw call.fail("size", "at least one size") }
            try budget(call, size)
            return layer(call, LayerNorm(size))
        },
        Builtin(
            "sequential", [.init("layers", layerType, variadic: true)], category: "model",
            summary:
                "Layers applied in order; functions of one tensor (relu, flatten, fn(x) = ...) become layers. Every model and parameter tensor such a function reads by name (a captured layer, a list or record of layers) is a full member of the model: trained, counted, named in summary, saved and loaded as 1.lin.weight, copied by clone, switched by train/eval. The layer keeps the members it was built with, whatever the names are bound to later.",
            example: "sequential(linear(64, 32), relu, linear(32, 10))"
        ) { call in
            guard !call.rest.isEmpty else { throw call.error("needs at least one layer") }
            return .model(Model(Sequential(try call.rest.flatMap { try layers(from: $0, named: "layers", call) })))
        },
        Builtin(
            "mlp",
            [
                .init("sizes", .wholeNumbers(min: 1)), .init("dropout", .fraction(includingOne: false), .number(0)),
                .init("activation", .optional(layerType), Value.none),
            ], category: "model",
            summary: "A multi-layer perceptron: Linear layers of the given sizes with ReLU (or `activation`) between.",
            example: "mlp([64, 256, 256, 10], dropout: 0.2)"
        ) { call in
            let sizes = try call.ints("sizes")
            guard sizes.count >= 2 else { throw call.fail("sizes", "at least two sizes, inputs first") }
            for (a, b) in zip(sizes, sizes.dropFirst()) { try budget(call, [b, a], at: "sizes") }
            let p = try call.float("dropout")
            var activation: [Layer] = [Activation(.relu)]
            if call.isGiven("activation") {
                activation = try layers(
                    from: CallArgument(label: nil, value: call.value("activation"), range: call.range(of: "activation")),
                    named: "activation", call)
            }
            let network = Sequential.perceptron(sizes, activation: activation, dropout: p, generator: &call.interpreter.generator)
            return .model(Model(network))
        },
        Builtin(
            "clone", [.init("model", .model)], category: "model",
            summary: "An independent copy of a model with the same weights.", example: "let alone = clone(student)"
        ) { call in
            let m = try call.model("model")
            let copy = Model(m.network.copied())
            copy.pruning = m.pruning
            copy.shapesBeforePruning = m.shapesBeforePruning
            return .model(copy)
        },
        Builtin(
            "summary", [.init("model", .model)], category: "model",
            summary:
                "A table of a model's layers: each one's parameters by name and shape (a layer with many, by the layers they belong to), their count, how many are not zero (a pruned model's zeros still count, and still take space in the file), and the totals.",
            example: "summary(teacher)"
        ) { call in
            let model = try call.model("model")
            var rows: [[String]] = []
            for (i, layer) in model.network.layers.enumerated() {
                let parameters = layer.namedParameters
                var shapes = parameters.map { "\($0.name) \(formatShape($0.variable.shape))" }.joined(separator: ", ")
                if parameters.count > 4 {
                    // A block holding many tensors is listed by the layers inside it.
                    var owners: [String] = []
                    for (name, _) in parameters {
                        let owner = name.split(separator: ".").dropLast().joined(separator: ".")
                        if !owners.contains(owner) { owners.append(owner) }
                    }
                    shapes = "\(parameters.count) tensors in " + owners.joined(separator: ", ")
                }
                if Quantizer.isQuantized(layer) {
                    // What stays float in an int8 layer (a block's layer norms) is listed after its int8 weights.
                    let int8 = layer.namedInt8Buffers.filter { $0.name.hasSuffix("weight") }
                        .map { "\($0.name) int8 \(formatShape($0.tensor.shape))" }.joined(separator: ", ")
                    shapes = shapes.isEmpty ? int8 : "\(int8); float: \(shapes)"
                }
                let count = Quantizer.parameterCount(layer)
                let frozen = Quantizer.isQuantized(layer) ? 0 : count - layer.trainableCount
                let counted = frozen == 0 ? String(count) : frozen == count ? "\(count) frozen" : "\(count), \(frozen) frozen"
                rows.append([
                    model.network.name(of: i), layer.description, shapes.isEmpty ? "-" : shapes, counted,
                    String(Comparison.nonZeroParameters(layer)),
                ])
            }
            let total = Quantizer.parameterCount(model.network)
            rows.append(["", "total", "", String(total), String(Comparison.nonZeroParameters(model.network))])
            let bytes = Quantizer.storedBytes(model.network)
            return .table(
                Table(
                    columns: ["#", "layer", "parameters", "count", "nonzero"], rows: rows,
                    title: Quantizer.isQuantized(model.network)
                        ? "\(model.name ?? "model"): \(model.countText), \(model.modeText) mode"
                        : "\(model.name ?? "model"): \(model.countText), \(bytes) bytes as saved, \(model.modeText) mode"))
        },
        Builtin(
            "features", [.init("model", .model), .init("x", .tensor), .init("layer", .wholeNumber())], category: "model",
            summary:
                "The output of layer `layer` (0-based; negative counts from the end) for input x: a hint for FitNets or attention transfer. Inside a fit or distill loss, on the batch's x, it reads the batch's one forward pass instead of running the model again.",
            example: "features(student, x, 1)"
        ) { call in
            let m = try call.model("model")
            let x = try call.tensor("x")
            let k = try call.int("layer")
            let count = m.network.layers.count
            let index = k < 0 ? k + count : k
            guard (0..<count).contains(index) else {
                throw call.error("layer \(k) is out of range: the model has \(count) layers", at: "layer")
            }
            if let recorded = call.interpreter.trainingContext?.recorded(m, on: x) { return .tensor(recorded[index + 1]) }
            return try call.tensorOp {
                var h = x
                for layer in m.network.layers[...index] { h = try layer.forward(h) }
                return h
            }
        },
        Builtin(
            "adam",
            [
                .init("lr", learningRateType, .number(1e-3)), .init("weight_decay", .number(.atLeast(0)), .number(0)),
                .init("betas", betasType, .list([.number(0.9), .number(0.999)])),
                .init("schedule", .optional(.schedule), Value.none),
            ],
            category: "optimizer", summary: "Adam (torch.optim.Adam). " + optimizerRules, example: "adam(lr: 1e-3)"
        ) { call in try optimizer(.adam, call) },
        Builtin(
            "adamw",
            [
                .init("lr", learningRateType, .number(1e-3)), .init("weight_decay", .number(.atLeast(0)), .number(0.01)),
                .init("betas", betasType, .list([.number(0.9), .number(0.999)])),
                .init("schedule", .optional(.schedule), Value.none),
            ],
            category: "optimizer", summary: "AdamW: Adam with decoupled weight decay (torch.optim.AdamW). " + optimizerRules,
            example: "adamw(lr: 1e-3, weight_decay: 0.05)"
        ) { call in try optimizer(.adamw, call) },
        Builtin(
            "sgd",
            [
                .init("lr", learningRateType, .number(0.01)), .init("momentum", .number(.atLeast(0)), .number(0)),
                .init("nesterov", .bool, .bool(false)), .init("weight_decay", .number(.atLeast(0)), .number(0)),
                .init("schedule", .optional(.schedule), Value.none),
            ],
            category: "optimizer",
            summary: "Stochastic gradient descent with optional (Nesterov) momentum (torch.optim.SGD). " + optimizerRules,
            example: "sgd(lr: 0.1, momentum: 0.9)"
        ) { call in try optimizer(.sgd, call) },
    ]

    static let optimizerRules = """
        Rules: an optimizer belongs to the first model fit or distill trains with it (as a PyTorch optimizer to the parameters \
        it was given); training another model with it, by fit, distill or step(opt, loss), is an error: make one optimizer \
        per model. So is fit or distill with an optimizer step(opt, loss) has used on none of the model's parameters. Each step updates the \
        unfrozen parameters the loss depends on (an adapter in the loss joins) and, in step(opt, loss), those an earlier \
        backward() left a gradient on (as PyTorch's opt.step()), and clears their gradients afterwards. \
        lr is a number or a function of the training progress p in [0, 1] (fn(p) = 1e-3 * (1 - p); step() then needs \
        progress: p). p is the progress of one fit or distill call: it runs from 0 to 1 within each call, so calling fit \
        once per epoch takes an lr function to its end value at the end of every epoch; give the whole run's epochs to \
        one call (or a schedule, which counts the optimizer's steps across calls) to decay over the run. schedule: takes \
        step_lr, cosine_lr, warmup_lr or warmup_cosine_lr, counted in steps.
        """

    /// A learning rate: a number, or a function of the training progress p.
    static let learningRateType = ParameterType.oneOf([.number(.atLeast(0, finite: true)), .function(of: "p")])
    static let betasType = ParameterType.numbers(.between(0, 1, includingLow: true, includingHigh: false))

    static func optimizer(_ kind: OptimizerValue.Kind, _ call: BuiltinCall) throws -> Value {
        var lr: Double?
        var lrFunction: Value?
        if case .function = call.value("lr") {
            lrFunction = call.value("lr")
        } else {
            lr = try call.number("lr")
        }
        let schedule = try call.ifGiven("schedule", call.schedule) ?? .constant
        let wd = try call.number("weight_decay")
        if kind == .sgd {
            let momentum = try call.number("momentum")
            let nesterov = try call.bool("nesterov")
            guard !nesterov || momentum > 0 else { throw call.error("nesterov needs momentum > 0", at: "nesterov") }
            return .optimizer(
                OptimizerValue(
                    kind: .sgd, learningRate: lr, learningRateFunction: lrFunction, momentum: momentum, nesterov: nesterov,
                    weightDecay: wd, schedule: schedule))
        }
        let betas = try call.numbers("betas")
        guard betas.count == 2 else { throw call.fail("betas", "two numbers in [0, 1), like [0.9, 0.999]") }
        let (b1, b2) = (betas[0], betas[1])
        return .optimizer(
            OptimizerValue(
                kind: kind, learningRate: lr, learningRateFunction: lrFunction, weightDecay: wd, betas: (b1, b2),
                schedule: schedule))
    }
}
