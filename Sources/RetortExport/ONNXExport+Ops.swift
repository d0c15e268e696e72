import RetortGraph
import RetortTensor

// The op table: each Retort op and the ONNX nodes that compute it (opset 17). Adding an op is
// adding a case to `translateOp`, or an entry to `oneToOne` when one ONNX op takes the same inputs.

extension ONNXExport.Translation {
    /// Retort ops that are one ONNX op over the same inputs in the same order (binary ones
    /// broadcast as NumPy does, in Retort and in ONNX alike).
    static let oneToOne: [String: String] = [
        "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max", "minimum": "Min",
        "matmul": "MatMul", "neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs", "cos": "Cos",
        "sin": "Sin", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu",
    ]

    /// Comparisons by Retort's name: ONNX's op, and whether its result is negated (`ne`).
    static let comparisons: [String: (type: String, negated: Bool)] = [
        "eq": ("Equal", false), "ne": ("Equal", true), "lt": ("Less", false), "le": ("LessOrEqual", false),
        "gt": ("Greater", false), "ge": ("GreaterOrEqual", false),
    ]

    /// The ONNX value computing `node`, or nil for an op the table does not know.
    mutating func translateOp(_ node: Graph.Node) throws -> String? {
        if let type = Self.oneToOne[node.op.name] { return try emit(type, inputs(node)) }
        let op = node.op
        switch op.name {
        case "identity", "detach":
            return try input(node, 0)
        case "scale":
            return try emit("Mul", [input(node, 0), scalar(float(node, "by"), "by")])
        case "shift":
            return try emit("Add", [input(node, 0), scalar(float(node, "by"), "by")])
        case "leaky_relu":
            return try emit("LeakyRelu", [input(node, 0)], [.float("alpha", float(node, "slope"))])
        case "silu":
            let x = try input(node, 0)
            return try emit("Mul", [x, emit("Sigmoid", [x])])
        case "gelu":
            return try gelu(node)
        case "remainder":
            // Python's and torch.remainder's rule, as Retort computes it: C's fmod (Mod with
            // fmod=1, exact), then a nonzero result of the other sign than the divisor moved by it.
            let (a, b) = (try input(node, 0), try input(node, 1))
            let r = try emit("Mod", [a, b], [.int("fmod", 1)])
            let zero = try scalar(0, "zero")
            let signs = try emit("Xor", [emit("Less", [r, zero]), emit("Less", [b, zero])])
            let moved = try emit("And", [emit("Not", [emit("Equal", [r, zero])]), signs])
            return try emit("Where", [moved, emit("Add", [r, b]), r])
        case "clamp":
            let bounds = try [op.float("min"), op.float("max")].map { bound in try bound.map { try scalar($0, "bound") } ?? "" }
            return try emit("Clip", [input(node, 0)] + (bounds[1].isEmpty ? Array(bounds.prefix(1)) : bounds))
        case "softmax":
            return try emit("Softmax", [input(node, 0)], [.int("axis", int(node, "axis"))])
        case "log_softmax":
            return try emit("LogSoftmax", [input(node, 0)], [.int("axis", int(node, "axis"))])
        case "sum", "mean", "max", "min", "logsumexp":
            return try reduction(node)
        case "linear":
            return try linear(node)
        case "conv2d":
            let kernel = try Array(inputShape(node, 1).suffix(2))
            return try emit(
                "Conv", inputs(node), convolution(kernel: kernel, stride: int(node, "stride"), padding: int(node, "padding")))
        case "max_pool2d", "avg_pool2d":
            let k = try int(node, "kernel")
            var attributes = try convolution(kernel: [k, k], stride: int(node, "stride"), padding: int(node, "padding"))
            // Retort divides by the whole window, padding included (PyTorch's count_include_pad).
            if op.name == "avg_pool2d" { attributes.append(.int("count_include_pad", 1)) }
            return try emit(op.name == "max_pool2d" ? "MaxPool" : "AveragePool", [input(node, 0)], attributes)
        case "flatten":
            return try flatten(node)
        case "reshape":
            return try reshape(node)
        case "permute":
            return try emit("Transpose", [input(node, 0)], [.ints("perm", ints(node, "dims"))])
        case "expand":
            return try expandOp(node)
        case "slice":
            return try slice(node)
        case "concat":
            return try emit("Concat", inputs(node), [.int("axis", int(node, "axis"))])
        case "embedding":
            return try embedding(node)
        case "gather":
            return try emit("GatherElements", [input(node, 0), indices(node, 1)], [.int("axis", int(node, "axis"))])
        case "compare":
            let name = op.string("comparison") ?? ""
            guard let comparison = Self.comparisons[name] else {
                throw cannotExpress(node, because: "unknown comparison '\(name)'")
            }
            let result = try emit(comparison.type, inputs(node))
            markBool(node)
            return comparison.negated ? try emit("Not", [result]) : result
        case "where":
            let (a, b) = try (input(node, 1), input(node, 2))
            return try emit("Where", [value(ofBool: node.inputs[0]), a, b])
        case "batch_norm":
            return try batchNorm(node)
        case "layer_norm":
            return try layerNorm(node)
        case "int8_linear":
            return try int8Linear(node)
        case "int8_conv2d":
            return try int8Conv2d(node)
        default:
            return nil
        }
    }

    // MARK: - Translations of more than one node

    /// `x @ Wᵀ + b`: Gemm for an input of rank 2, else MatMul by the transposed weight, then Add.
    /// The int8 layers use it too, on their dequantized input and weights.
    mutating func linear(_ x: String, rank: Int, weight: String, bias: String?) throws -> String {
        if rank == 2 { return try emit("Gemm", [x, weight] + (bias.map { [$0] } ?? []), [.int("transB", 1)]) }
        let product = try emit("MatMul", [x, emit("Transpose", [weight], [.ints("perm", [1, 0])])])
        return try bias.map { try emit("Add", [product, $0]) } ?? product
    }

    private mutating func linear(_ node: Graph.Node) throws -> String {
        try linear(
            input(node, 0), rank: inputShape(node, 0).count, weight: input(node, 1),
            bias: node.inputs.count > 2 ? input(node, 2) : nil)
    }

    /// Conv's and the pools' window attributes for square strides and padding.
    func convolution(kernel: [Int], stride: Int, padding: Int) -> [AttributeProto] {
        [
            .ints("kernel_shape", kernel), .ints("strides", [stride, stride]),
            .ints("pads", [padding, padding, padding, padding]),
        ]
    }

    /// The exact GELU, `0.5·x·(1 + erf(x·√½))` in Retort's order of operations (ONNX's Gelu is opset 20).
    private mutating func gelu(_ node: Graph.Node) throws -> String {
        let x = try input(node, 0)
        let erf = try emit("Erf", [emit("Mul", [x, scalar(Float(0.5).squareRoot(), "sqrt_half")])])
        let half = try emit("Mul", [x, scalar(0.5, "half")])
        return try emit("Mul", [half, emit("Add", [erf, scalar(1, "one")])])
    }

    /// ReduceSum takes its axes as an input in opset 17; ReduceMean, ReduceMax, ReduceMin and
    /// ReduceLogSumExp still as an attribute. No axes (a scalar's) reduces everything, as Retort does.
    private mutating func reduction(_ node: Graph.Node) throws -> String {
        let axes = try ints(node, "axes")
        let keep: AttributeProto = .int("keepdims", node.op.bool("keep_dims") == true ? 1 : 0)
        let x = try input(node, 0)
        switch node.op.name {
        case "sum":
            return try emit("ReduceSum", axes.isEmpty ? [x] : [x, int64s(axes, "axes")], [keep])
        default:
            let type = ["mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin"][node.op.name] ?? "ReduceLogSumExp"
            return try emit(type, [x], (axes.isEmpty ? [] : [.ints("axes", axes)]) + [keep])
        }
    }

    /// Retort keeps the axes before `axis` and merges the rest; ONNX's Flatten always makes a
    /// matrix, which is the same only at axis 1. Elsewhere a Reshape copies the leading axes (0).
    private mutating func flatten(_ node: Graph.Node) throws -> String {
        let axis = try int(node, "axis")
        if axis == 1 { return try emit("Flatten", [input(node, 0)], [.int("axis", 1)]) }
        return try emit("Reshape", [input(node, 0), int64s([Int](repeating: 0, count: axis) + [-1], "shape")])
    }

    /// Reshape to a shape holding no traced size: a single dynamic axis becomes -1, which Reshape
    /// infers; with more (batch and sequence), those the input has at the same place are 0 (copied
    /// from the input), one other may be -1, and any further ones make the shape from the runtime sizes.
    private mutating func reshape(_ node: Graph.Node) throws -> String {
        let target = try dims(of: .node(node.id))
        let source = try dims(of: node.inputs[0])
        let dynamic = target.indices.filter { target[$0].isDynamic }
        let copied = dynamic.count <= 1 ? [] : dynamic.filter { $0 < source.count && source[$0] == target[$0] }
        let inferred = dynamic.filter { !copied.contains($0) }
        guard inferred.count <= 1 else { return try emit("Reshape", [input(node, 0), shapeValue(target, "shape")]) }
        let shape = target.enumerated().map { axis, dim -> Int in
            if case .fixed(let size) = dim { return size }
            return copied.contains(axis) ? 0 : -1
        }
        return try emit("Reshape", [input(node, 0), int64s(shape, "shape")])
    }

    /// Expand broadcasts both ways, so a 1 keeps the input's size: used wherever the input already
    /// has the target size, the batch included; only sizes the input lacks are spelled out.
    private mutating func expandOp(_ node: Graph.Node) throws -> String {
        let target = try dims(of: .node(node.id))
        let source = try dims(of: node.inputs[0])
        let offset = target.count - source.count
        let shape = target.enumerated().map { axis, dim in
            axis >= offset && source[axis - offset] == dim ? ONNXExport.Dim.fixed(1) : dim
        }
        return try emit("Expand", [input(node, 0), shapeValue(shape, "shape")])
    }

    /// Slice with starts, ends, axes and steps as initializers. Retort's starts and ends are
    /// resolved against the traced sizes; along a dynamic axis they are rewritten to hold at any
    /// size: the whole axis (to ±∞), or positions counted from its end.
    private mutating func slice(_ node: Graph.Node) throws -> String {
        let inA = try inputShape(node, 0)
        let inDims = try dims(of: node.inputs[0])
        let outDims = try dims(of: .node(node.id))
        let (startsA, steps) = try (ints(node, "starts"), ints(node, "steps"))
        // Each other trace's input shape and starts.
        let others = traces.variations.map { variation in
            (shape: variation.graph.shape(of: node.inputs[0]), starts: variation.graph.nodes[node.id].op.ints("starts") ?? [])
        }
        guard startsA.count == steps.count, others.allSatisfy({ $0.starts.count == steps.count }), steps.count <= inA.count
        else {
            throw cannotExpress(node, because: "its starts and steps do not match its input \(formatShape(inA))")
        }
        var (starts, ends) = ([Int](), [Int]())
        for axis in steps.indices {
            let step = steps[axis]
            let count = node.shape[axis]
            if outDims[axis].isDynamic {
                guard outDims[axis] == inDims[axis], Swift.abs(step) == 1 else {
                    throw cannotExpress(
                        node, because: "it keeps part of axis \(axis), whose size grows with the batch or the sequence")
                }
                starts.append(step > 0 ? 0 : -1)
                ends.append(step > 0 ? Int.max : Int.min)
            } else if others.allSatisfy({ $0.starts[axis] == startsA[axis] }) {
                let last = startsA[axis] + (count - 1) * step
                let end = count == 0 ? startsA[axis] : last + (step > 0 ? 1 : -1)
                starts.append(startsA[axis])
                // A negative end would count from the axis's end; "before the first" is −∞.
                ends.append(end < 0 ? Int.min : end)
            } else if others.allSatisfy({ $0.starts[axis] - $0.shape[axis] == startsA[axis] - inA[axis] }), step > 0 {
                let start = startsA[axis] - inA[axis]
                let end = count == 0 ? start : start + (count - 1) * step + 1
                starts.append(start)
                ends.append(end == 0 ? Int.max : end)
            } else {
                throw cannotExpress(
                    node, because: "where it starts on axis \(axis) depends on the batch size or the sequence length")
            }
        }
        return try emit(
            "Slice",
            [
                input(node, 0), int64s(starts, "starts"), int64s(ends, "ends"), int64s(Array(steps.indices), "axes"),
                int64s(steps, "steps"),
            ])
    }

    /// Integer indices for GatherElements and Gather: a constant as an int64 initializer, a computed value cast.
    mutating func indices(_ node: Graph.Node, _ position: Int) throws -> String {
        _ = try inputShape(node, position)
        guard case .constant(let i) = node.inputs[position] else {
            return try emit("Cast", [input(node, position)], [.int("to", TensorProto.DataType.int64.rawValue)])
        }
        try checkConstant(i)
        let index = graph.constants[i]
        let values = index.scalars
        guard values.allSatisfy({ $0 == $0.rounded() && Swift.abs($0) < 1e15 }) else {
            throw cannotExpress(node, because: "its indices are not whole numbers")
        }
        return try builder.addInitializer(
            name: freshName("indices"), int64: values.map { Int64($0) }, dims: index.shape)
    }

    /// BatchNormalization with the running statistics; a trace in training mode is expanded instead.
    private mutating func batchNorm(_ node: Graph.Node) throws -> String {
        guard node.op.bool("training") == false, node.inputs.count == 5 else { return try expand(node) }
        // ONNX's momentum weighs the old statistics, Retort's the new batch.
        return try emit(
            "BatchNormalization", inputs(node),
            [.float("epsilon", float(node, "eps")), .float("momentum", 1 - float(node, "momentum"))])
    }

    /// LayerNormalization over the trailing axes from `axes[0]`, with a scale of ones when the
    /// layer has no weight (ONNX requires one). Normalising over a dynamic axis is expanded instead.
    private mutating func layerNorm(_ node: Graph.Node) throws -> String {
        let axes = try ints(node, "axes")
        let shape = try inputShape(node, 0)
        let inDims = try dims(of: node.inputs[0])
        guard let first = axes.first, axes == Array(first..<shape.count), !axes.contains(where: { inDims[$0].isDynamic })
        else { return try expand(node) }
        let (hasWeight, hasBias) = (node.op.bool("weight") == true, node.op.bool("bias") == true)
        let normalized = Array(shape[first...])
        let scale =
            try hasWeight
            ? input(node, 1) : floats([Float](repeating: 1, count: normalized.reduce(1, *)), dims: normalized, "scale")
        let bias = try hasBias ? [input(node, hasWeight ? 2 : 1)] : []
        return try emit(
            "LayerNormalization", [input(node, 0), scale] + bias,
            [.int("axis", first), .float("epsilon", float(node, "eps"))])
    }

    // MARK: - Inputs and attributes

    /// The ONNX values of all of a node's inputs, in order.
    mutating func inputs(_ node: Graph.Node) throws -> [String] {
        var names: [String] = []
        for position in node.inputs.indices { names.append(try input(node, position)) }
        return names
    }

    /// The traced shape of a node's input at `position`.
    func inputShape(_ node: Graph.Node, _ position: Int) throws -> [Int] {
        guard node.inputs.indices.contains(position) else {
            throw cannotExpress(node, because: "it has \(node.inputs.count) inputs, the translation reads input \(position + 1)")
        }
        return graph.shape(of: node.inputs[position])
    }

    func int(_ node: Graph.Node, _ name: String) throws -> Int {
        guard let value = node.op.int(name) else { throw missing(node, name) }
        return value
    }

    func ints(_ node: Graph.Node, _ name: String) throws -> [Int] {
        guard let value = node.op.ints(name) else { throw missing(node, name) }
        return value
    }

    func float(_ node: Graph.Node, _ name: String) throws -> Float {
        guard let value = node.op.float(name) else { throw missing(node, name) }
        return value
    }

    private func missing(_ node: Graph.Node, _ attribute: String) -> TensorError {
        cannotExpress(node, because: "it has no attribute '\(attribute)'")
    }
}
