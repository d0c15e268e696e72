import Foundation
import RetortNN
import RetortTensor

extension Builtins {
    /// A builtin of one tensor that also works on plain numbers (`exp(1)` is a number).
    static func elementwise(
        _ name: String, summary: String, example: String, number: @escaping (Double) -> Double,
        tensor: @escaping (Variable) -> Variable
    ) -> Builtin {
        Builtin(name, [.init("x", .tensor)], category: "tensor", summary: summary, example: example) { call in
            if case .number(let n) = call.value("x") { return .number(number(n)) }
            let x = try call.tensor("x")
            return .tensor(tensor(x))
        }
    }

    static func reduction(
        _ name: String, summary: String, example: String, numbers: ((Double, Double) -> Double)? = nil,
        _ op: @escaping (Variable, Int?, Bool) throws -> Variable
    ) -> Builtin {
        // min(3, 4.5) takes any number where the axis goes; an axis is read as a whole number.
        let axis: ParameterType = numbers == nil ? .optional(.wholeNumber()) : .optional(.number())
        return Builtin(
            name, [.init("x", .tensor), .init("axis", axis, Value.none), .init("keepdims", .bool, .bool(false))],
            category: "tensor", summary: summary, example: example
        ) { call in
            // min(3, 4) and max(a, b) of plain numbers: the smaller or larger, not an axis; a 0-d
            // tensor beside a number counts as one (max(item(d), worst[0]) once reduced item(d)
            // over axis worst[0] and gave item(d)).
            if let numbers, case .number(let a) = call.value("x") {
                switch call.value("axis") {
                case .number(let b): return .number(numbers(a, b))
                case .tensor(let t) where t.value.rank == 0: return .number(numbers(a, Double(t.value.scalar ?? .nan)))
                default: break
                }
            }
            let x = try call.tensor("x")
            // max(t, 0) of a 0-d tensor (a loss) reduced over its one axis and gave t, while
            // max(number, 0) clamps: a hinge written on a tensor silently stopped clamping.
            if numbers != nil, x.value.rank == 0, call.isGiven("axis") {
                throw call.error(
                    "\(name)(x, axis) of a 0-d tensor reduces over its one axis and gives x itself; for the "
                        + "\(name == "max" ? "larger" : "smaller") of x and a number write \(name == "max" ? "maximum" : "minimum")(x, n)",
                    at: "axis")
            }
            let axis = try call.ifGiven("axis", call.int)
            let keep = try call.bool("keepdims")
            return try call.tensorOp { try op(x, axis, keep) }
        }
    }

    /// Refuses a tensor of `shape` past the memory budget (or with a negative size) before it is made.
    static func budget(_ call: BuiltinCall, _ shape: [Int], at name: String? = nil) throws {
        do {
            try MemoryBudget.check(call.builtin.name, shape)
        } catch let e as TensorError {
            throw call.error(e.message, kind: Diagnostic.Kind(e.kind), at: name)
        }
    }

    static let tensorBuiltins: [Builtin] = [
        Builtin(
            "tensor", [.init("values", .tensor), .init("requires_grad", .bool, .bool(false))], category: "tensor",
            summary: "A tensor from nested lists of numbers (a copy); requires_grad makes it a parameter.",
            example: "tensor([[1, 2], [3, 4]], requires_grad: true)"
        ) { call in
            let t = try call.tensor("values")
            return .tensor(Variable(t.value, requiresGrad: try call.bool("requires_grad")))
        },
        Builtin("zeros", [.init("shape", .shape)], category: "tensor", summary: "A tensor of zeros.", example: "zeros([2, 3])") {
            call in
            .tensor(Variable(.zeros(try call.shape("shape"))))
        },
        Builtin("ones", [.init("shape", .shape)], category: "tensor", summary: "A tensor of ones.", example: "ones([2, 3])") {
            call in
            .tensor(Variable(.ones(try call.shape("shape"))))
        },
        Builtin(
            "randn", [.init("shape", .shape)], category: "tensor",
            summary: "Standard normal values from the session's seeded generator.", example: "randn([4, 64])"
        ) { call in
            .tensor(Variable(call.interpreter.generator.normal(try call.shape("shape"))))
        },
        Builtin(
            "rand", [.init("shape", .shape)], category: "tensor", summary: "Values uniform in [0, 1) from the seeded generator.",
            example: "rand([3])"
        ) { call in
            .tensor(Variable(call.interpreter.generator.uniform(try call.shape("shape"))))
        },
        Builtin(
            "arange", [.init("start", .number()), .init("end", .number()), .init("step", .number(), .number(1))],
            category: "tensor",
            summary: "Values start, start+step, ... below end.", example: "arange(0, 1, step: 0.25)"
        ) { call in
            let (start, end, step) = (try call.number("start"), try call.number("end"), try call.number("step"))
            guard start.isFinite, end.isFinite else { throw call.error("start and end must be finite numbers") }
            guard step.isFinite, step != 0 else { throw call.fail("step", "a finite number other than 0") }
            let count = ((end - start) / step).rounded(.up)
            try budget(call, [count > 0 ? Int(Swift.min(count, 1e15)) : 0])
            return .tensor(Variable(Tensor.arange(start, end, step: step)))
        },
        Builtin(
            "eye", [.init("n", .wholeNumber(min: 0))], category: "tensor", summary: "The n×n identity matrix.", example: "eye(3)"
        ) { call in
            let n = try call.int("n")
            try budget(call, [n, n], at: "n")
            return .tensor(Variable(Tensor.eye(n)))
        },
        Builtin(
            "reshape", [.init("x", .tensor), .init("shape", .wholeNumbers())], category: "tensor",
            summary: "The same elements in a new shape; one size may be -1.", example: "reshape(x, [2, -1])"
        ) { call in
            let x = try call.tensor("x")
            let shape = try call.ints("shape")
            return try call.tensorOp { try x.reshaped(shape) }
        },
        Builtin(
            "flatten", [.init("x", .tensor)], category: "tensor", summary: "Every axis after the first merged into one.",
            example: "flatten(images)"
        ) { call in
            let x = try call.tensor("x")
            return try call.tensorOp { try x.flattened(from: 1) }
        },
        Builtin(
            "transpose",
            [.init("x", .tensor), .init("dim0", .wholeNumber(), .number(-2)), .init("dim1", .wholeNumber(), .number(-1))],
            category: "tensor",
            summary:
                "Two axes swapped (the last two by default). transpose(v) of a vector is refused (torch.transpose(v, -2, -1) is an error too; v.T gives it back); transpose(v, 0, 0) names its one axis twice and gives v, as torch's.",
            example: "transpose(w)"
        ) { call in
            let x = try call.tensor("x")
            // NumPy's v.T gives a vector back unchanged, so transpose(v) to make a column went on
            // silently with a row: matmul(transpose(v), v) was a dot product, not an outer one.
            // Axes named explicitly on a vector are torch.transpose's: both its one axis, a no-op.
            if x.value.rank < 2, call.isWritten("dim0") || call.isWritten("dim1") {
                let axes = Swift.max(x.value.rank, 1)
                for name in ["dim0", "dim1"] {
                    let d = try call.int(name)
                    guard -axes..<axes ~= d else {
                        throw call.error(
                            "\(name) \(d) is out of range for a tensor of shape \(formatShape(x.shape)) (-\(axes) to \(axes - 1))",
                            kind: .shape, at: name)
                    }
                }
                return call.value("x")
            }
            guard x.value.rank >= 2 else {
                let n = x.value.count
                throw call.error(
                    "needs a tensor of rank 2 or more, got shape \(formatShape(x.shape)): a \(x.value.rank == 1 ? "vector has one axis" : "0-d tensor has none"), so there is nothing to swap"
                        + (x.value.rank == 1
                            ? "; for a column write reshape(x, [\(n), 1]), for a row reshape(x, [1, \(n)])" : ""),
                    at: "x")
            }
            let (a, b) = (try call.int("dim0"), try call.int("dim1"))
            return try call.tensorOp { try x.transposed(a, b) }
        },
        Builtin(
            "permute", [.init("x", .tensor), .init("dims", .wholeNumbers())], category: "tensor", summary: "Axes reordered.",
            example: "permute(images, [0, 2, 3, 1])"
        ) { call in
            let x = try call.tensor("x")
            let dims = try call.ints("dims")
            return try call.tensorOp { try x.permuted(dims) }
        },
        Builtin(
            "concat", [.init("tensors", tensorsType), .init("axis", .wholeNumber(), .number(0))], category: "tensor",
            summary: "Tensors joined along an existing axis.", example: "concat([a, b], axis: 1)"
        ) { call in
            let parts = try tensorList(call, "tensors")
            let axis = try call.int("axis")
            return try call.tensorOp { try Variable.concat(parts, axis: axis) }
        },
        Builtin(
            "stack", [.init("tensors", tensorsType), .init("axis", .wholeNumber(), .number(0))], category: "tensor",
            summary: "Tensors of one shape joined along a new axis.", example: "stack([a, b])"
        ) { call in
            let parts = try tensorList(call, "tensors")
            let axis = try call.int("axis")
            return try call.tensorOp { try Variable.stack(parts, axis: axis) }
        },
        Builtin(
            "gather", [.init("x", .tensor), .init("axis", .wholeNumber()), .init("index", .tensor)], category: "tensor",
            summary:
                "PyTorch's gather: values picked along an axis by an index tensor of the same rank as x (labels [N] for logits [N, C] as reshape(labels, [-1, 1])).",
            example: "gather(logits, 1, reshape(labels, [-1, 1]))"
        ) { call in
            let x = try call.tensor("x")
            let axis = try call.int("axis")
            let index = try call.tensor("index")
            return try call.tensorOp { try x.gathered(axis: axis, index: index) }
        },
        Builtin(
            "one_hot", [.init("labels", .tensor), .init("classes", .wholeNumber(min: 1))], category: "tensor",
            summary: "Class indices as one-hot rows.", example: "one_hot(y, 10)"
        ) { call in
            let labels = try call.tensor("labels").value
            let classes = try call.int("classes")
            try budget(call, [labels.count, classes], at: "classes")
            return try call.tensorOp { Variable(try labels.oneHot(classes: classes)) }
        },
        Builtin(
            "where", [.init("condition", .tensor), .init("a", .tensor), .init("b", .tensor)], category: "tensor",
            summary: "Elements of a where the condition is non-zero, else of b.", example: "where(x > 0, x, 0)"
        ) { call in
            let c = try call.tensor("condition")
            let (a, b) = (try call.tensor("a"), try call.tensor("b"))
            return try call.tensorOp { try Variable.select(c, a, b) }
        },
        Builtin(
            "maximum", [.init("a", .tensor), .init("b", .tensor)], category: "tensor",
            summary: "The larger of two values, elementwise.",
            example: "maximum(x, 0)"
        ) { call in
            if case .number(let a) = call.value("a"), case .number(let b) = call.value("b") { return .number(Swift.max(a, b)) }
            let (a, b) = (try call.tensor("a"), try call.tensor("b"))
            return try call.tensorOp { try a.maximum(b) }
        },
        Builtin(
            "minimum", [.init("a", .tensor), .init("b", .tensor)], category: "tensor",
            summary: "The smaller of two values, elementwise.",
            example: "minimum(x, 1)"
        ) { call in
            if case .number(let a) = call.value("a"), case .number(let b) = call.value("b") { return .number(Swift.min(a, b)) }
            let (a, b) = (try call.tensor("a"), try call.tensor("b"))
            return try call.tensorOp { try a.minimum(b) }
        },
        Builtin(
            "clamp",
            [
                .init("x", .tensor), .init("min", .optional(.number()), Value.none),
                .init("max", .optional(.number()), Value.none),
            ], category: "tensor",
            summary: "Values limited to [min, max].", example: "clamp(p, min: 1e-7, max: 1)"
        ) { call in
            let x = try call.tensor("x")
            guard call.isGiven("min") || call.isGiven("max") else {
                // As torch.clamp: a clamp with no bound is a mistake (a bound left out), not x.
                throw call.error("needs min:, max: or both (clamp(x, min: 0))", kind: .argument)
            }
            return .tensor(
                x.clamp(min: try call.ifGiven("min", call.float), max: try call.ifGiven("max", call.float)))
        },
        Builtin(
            "matmul", [.init("a", .tensor), .init("b", .tensor)], category: "tensor", summary: "Matrix product (same as a @ b).",
            example: "matmul(x, transpose(w))"
        ) { call in
            let (a, b) = (try call.tensor("a"), try call.tensor("b"))
            return try call.tensorOp { try a.matmul(b) }
        },
        elementwise("exp", summary: "e to the power x.", example: "exp(x)", number: Foundation.exp) { $0.exp() },
        elementwise("log", summary: "Natural logarithm.", example: "log(p)", number: Foundation.log) { $0.log() },
        elementwise("sqrt", summary: "Square root.", example: "sqrt(v)", number: Foundation.sqrt) { $0.sqrt() },
        elementwise("cos", summary: "Cosine (radians).", example: "cos(pi * p)", number: Foundation.cos) { $0.cos() },
        elementwise("sin", summary: "Sine (radians).", example: "sin(x)", number: Foundation.sin) { $0.sin() },
        elementwise("abs", summary: "Absolute value.", example: "abs(x - y)", number: Swift.abs) { $0.abs() },
        elementwise(
            "relu", summary: "max(x, 0) as torch.relu: NaN passes through; also a layer inside sequential(...).",
            example: "relu(x)", number: { $0 < 0 ? 0 : $0 }
        ) { $0.relu() },
        elementwise("tanh", summary: "Hyperbolic tangent; also a layer.", example: "tanh(x)", number: Foundation.tanh) {
            $0.tanh()
        },
        elementwise(
            "sigmoid", summary: "The logistic function; also a layer.", example: "sigmoid(x)",
            number: { 1 / (1 + Foundation.exp(-$0)) }
        ) { $0.sigmoid() },
        elementwise(
            "gelu", summary: "Gaussian error linear unit, erf form (PyTorch's default; erf to 1.9e-7); also a layer.",
            example: "gelu(x)",
            number: { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        ) { $0.gelu() },
        elementwise(
            "silu", summary: "x · sigmoid(x); also a layer.", example: "silu(x)", number: { $0 / (1 + Foundation.exp(-$0)) }
        ) { $0.silu() },
        Builtin(
            "leaky_relu", [.init("x", .tensor), .init("slope", .number(), .number(0.01))], category: "tensor",
            summary: "x where positive, slope·x elsewhere.", example: "leaky_relu(x, slope: 0.2)"
        ) { call in .tensor(try call.tensor("x").leakyRelu(slope: try call.float("slope"))) },
        Builtin(
            "softmax", [.init("x", .tensor), .init("axis", .wholeNumber(), .number(-1))], category: "tensor",
            summary: "Probabilities along an axis; divide by a temperature first to soften: softmax(t / T).",
            example: "softmax(logits / 4)"
        ) { call in
            let x = try call.tensor("x")
            let axis = try call.int("axis")
            return try call.tensorOp { try x.softmax(axis: axis) }
        },
        Builtin(
            "log_softmax", [.init("x", .tensor), .init("axis", .wholeNumber(), .number(-1))], category: "tensor",
            summary: "log(softmax(x)), computed stably.", example: "log_softmax(s / T)"
        ) { call in
            let x = try call.tensor("x")
            let axis = try call.int("axis")
            return try call.tensorOp { try x.logSoftmax(axis: axis) }
        },
        Builtin(
            "normalize",
            [.init("x", .tensor), .init("axis", .wholeNumber(), .number(1)), .init("eps", .number(), .number(1e-12))],
            category: "tensor",
            summary: "x divided by its L2 norm along an axis (at least eps), as torch's F.normalize.",
            example: "normalize(features, axis: 1)"
        ) { call in
            let x = try call.tensor("x")
            let axis = try call.int("axis")
            let eps = try call.float("eps")
            guard axis < x.shape.count else {
                throw call.error(
                    "axis \(axis) is out of range for x of shape \(formatShape(x.shape))"
                        + (x.shape.count == 1 ? " (a vector's only axis is 0: normalize(x, axis: 0))" : ""),
                    at: call.isGiven("axis") ? "axis" : "x")
            }
            return try call.tensorOp { try x / Loss.clampedNorm(x, axes: [axis], keepDims: true, eps: eps) }
        },
        reduction("sum", summary: "Sum over an axis, or of everything.", example: "sum(x, axis: 1)") { x, a, k in
            try x.sum(axes: a.map { [$0] }, keepDims: k)
        },
        reduction("mean", summary: "Mean over an axis, or of everything.", example: "mean(x)") { x, a, k in
            try x.mean(axes: a.map { [$0] }, keepDims: k)
        },
        reduction(
            "max", summary: "Largest value over an axis, or of everything; max(a, b) of two plain numbers is the larger.",
            example: "max(x, axis: 1)", numbers: Swift.max
        ) { x, a, k in
            try x.max(axis: a, keepDims: k)
        },
        reduction(
            "min", summary: "Smallest value over an axis, or of everything; min(a, b) of two plain numbers is the smaller.",
            example: "min(x)", numbers: Swift.min
        ) { x, a, k in
            try x.min(axis: a, keepDims: k)
        },
        Builtin(
            "item", [.init("x", .tensor)], category: "tensor",
            summary: "The number in a one-element tensor (PyTorch's x.item()).",
            example: "item(loss)"
        ) { call in
            if case .number = call.value("x") { return call.value("x") }
            let x = try call.tensor("x")
            guard x.value.count == 1, let v = x.value.scalars.first else {
                throw call.error("needs a one-element tensor, got shape \(formatShape(x.shape))", at: "x")
            }
            Tape.readOut(x, by: "item() at \(call.place(of: "x"))")
            return .number(Double(v))
        },
        reduction("logsumexp", summary: "log Σ exp over an axis, without overflow.", example: "logsumexp(x, axis: 1)") {
            x, a, k in
            try x.logSumExp(axes: a.map { [$0] }, keepDims: k)
        },
        reduction("argmax", summary: "Index of the largest value over an axis (no gradient).", example: "argmax(logits, axis: 1)")
        { x, a, k in
            Variable(try x.value.argmax(axis: a, keepDims: k))
        },
        Builtin(
            "detach", [.init("x", .tensor)], category: "tensor", summary: "The same values cut off from the gradient graph.",
            example: "detach(teacher(x))"
        ) { call in .tensor(try call.tensor("x").detached()) },
        Builtin(
            "no_grad", [.init("expression", .any)], category: "tensor",
            summary: "Evaluates its argument without recording gradients: no graph, no kept activations.",
            example: "no_grad(teacher(b.x))"
        ) { call in call.value("expression") },
    ]

    static func tensorList(_ call: BuiltinCall, _ name: String) throws -> [Variable] {
        guard case .list(let items) = call.value(name) else {
            if case .tensor(let t) = call.value(name) {
                return try (0..<(t.shape.first ?? 0)).map { try t.selecting(axis: 0, index: $0) }
            }
            throw call.fail(name)
        }
        return try items.map { try call.interpreter.tensorArgument($0, at: call.range(of: name), what: "each of `\(name)`") }
    }

    static func reductionArgument(_ call: BuiltinCall) throws -> Reduction { try call.option("reduction", as: Reduction.self) }

    /// `reduction:` of a loss, with its default.
    /// `reduction:` with the reductions the loss takes: "batchmean" is kl_div's alone (as in PyTorch).
    static func reductionParameter(_ standard: Reduction) -> Builtin.Parameter {
        let options = Reduction.allCases.filter { $0 != .batchmean || standard == .batchmean }
        return .init("reduction", .option(options.map(\.rawValue)), .string(standard.rawValue))
    }

    /// What concat and stack join: a list of tensors, or a tensor's rows.
    static let tensorsType = ParameterType.oneOf([.list(.tensor), .tensorValue])

    static let lossBuiltins: [Builtin] = [
        Builtin(
            "cross_entropy",
            [
                .init("logits", .tensor), .init("target", .tensor),
                .init("label_smoothing", .fraction(includingOne: true), .number(0)),
                reductionParameter(.mean),
            ],
            category: "loss",
            summary:
                "Cross-entropy of logits [N, C] against class indices [N] or probabilities [N, C] (PyTorch semantics). Logits of rank 3 or more take their classes on the LAST axis, [N, T, V] against labels [N, T] (nanoGPT's logits.view(-1, V)), where F.cross_entropy takes them on axis 1: permute an [N, C, H, W] output to [N, H, W, C] first.",
            example: "cross_entropy(model(x), y, label_smoothing: 0.1)"
        ) { call in
            let (logits, target) = (try call.tensor("logits"), try call.tensor("target"))
            let smoothing = try call.float("label_smoothing")
            let reduction = try reductionArgument(call)
            return try call.tensorOp {
                try Loss.crossEntropy(logits, target: target, labelSmoothing: smoothing, reduction: reduction)
            }
        },
        Builtin(
            "nll",
            [
                .init("log_probs", .oneOf([.tensor, .model])), .init("target", .oneOf([.tensor, .dataset])),
                reductionParameter(.mean),
            ], category: "loss",
            summary:
                "Negative log-likelihood of class indices under log-probabilities [N, C], or [N, T, V] with labels [N, T] (classes last, as cross_entropy); labels of -1 count for nothing; nll(model, data) is a model's mean nll on a dataset in nats per labelled prediction (per token for a sequence model; −1 labels left out), in eval mode.",
            example: "nll(log_softmax(s), y); nll(teacher, test_seq)"
        ) { call in
            if case .model(let model) = call.value("log_probs") {
                guard case .dataset(let data) = call.value("target") else { throw call.fail("target", "a dataset") }
                return .number(try negativeLogLikelihood(call, model, data))
            }
            let (logp, target) = (try call.tensor("log_probs"), try call.tensor("target"))
            let reduction = try reductionArgument(call)
            // -1 labels count for nothing, as in cross_entropy and nll(model, data).
            return try call.tensorOp { try Loss.nll(logp, target: target, ignoreIndex: -1, reduction: reduction) }
        },
        Builtin(
            "mse", [.init("input", .tensor), .init("target", .tensor), reductionParameter(.mean)], category: "loss",
            summary: "Mean squared error.", example: "mse(adapter(fs), ft)"
        ) { call in
            let (a, b) = (try call.tensor("input"), try call.tensor("target"))
            let reduction = try reductionArgument(call)
            return try call.tensorOp { try Loss.mse(a, b, reduction: reduction) }
        },
        Builtin(
            "l1", [.init("input", .tensor), .init("target", .tensor), reductionParameter(.mean)], category: "loss",
            summary: "Mean absolute error.", example: "l1(s, t)"
        ) { call in
            let (a, b) = (try call.tensor("input"), try call.tensor("target"))
            let reduction = try reductionArgument(call)
            return try call.tensorOp { try Loss.l1(a, b, reduction: reduction) }
        },
        Builtin(
            "kl_div", [.init("input", .tensor), .init("target", .tensor), reductionParameter(.batchmean)], category: "loss",
            summary:
                "KL(target ‖ q) with input = log q and target = p, PyTorch's argument order; the default batchmean divides by N, the KL per example (PyTorch's F.kl_div defaults to mean, which divides by every element too: C times smaller for C classes).",
            example: "kl_div(log_softmax(s / T), softmax(t / T))"
        ) { call in
            let (a, b) = (try call.tensor("input"), try call.tensor("target"))
            let reduction = try reductionArgument(call)
            return try call.tensorOp { try Loss.klDiv(a, b, reduction: reduction) }
        },
        Builtin(
            "bce_with_logits", [.init("logits", .tensor), .init("target", .tensor), reductionParameter(.mean)], category: "loss",
            summary: "Binary cross-entropy on logits, computed stably.", example: "bce_with_logits(z, y)"
        ) { call in
            let (a, b) = (try call.tensor("logits"), try call.tensor("target"))
            let reduction = try reductionArgument(call)
            return try call.tensorOp { try Loss.binaryCrossEntropyWithLogits(a, b, reduction: reduction) }
        },
        Builtin(
            "cosine_similarity",
            [
                .init("a", .tensor), .init("b", .tensor), .init("axis", .wholeNumber(), .number(1)),
                .init("eps", .number(), .number(1e-8)),
            ],
            category: "loss",
            summary: "a·b / (‖a‖·‖b‖) along an axis.", example: "cosine_similarity(fs, ft)"
        ) { call in
            let (a, b) = (try call.tensor("a"), try call.tensor("b"))
            let (axis, eps) = (try call.int("axis"), try call.float("eps"))
            return try call.tensorOp { try Loss.cosineSimilarity(a, b, axis: axis, eps: eps) }
        },
    ]
}
