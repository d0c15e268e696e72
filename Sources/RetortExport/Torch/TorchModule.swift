import RetortGraph
import RetortNN
import RetortTensor

/// One Retort model as a PyTorch `nn.Module` class: `__init__` builds a module tree mirroring the
/// model's layers (standard `nn` modules where a layer is one, plain containers otherwise), so the
/// state-dict names are Retort's; `forward` replays the model's traced graph as torch ops.
///
/// The model is traced as the ONNX exporter traces it (ONNXExport.trace: batches of 2 and 3 from
/// the example's rows, and token ids at a second length too): a size that differs between the
/// traces is the batch's or the length's, so shapes in `reshape`, `expand` and slices are written
/// in terms of them, the positions and a causal mask are made from the input's length, and the
/// class runs on any batch size and, for a language model, any length up to its block (as
/// nanoGPT's `GPT.forward`). A model that cannot follow the length keeps it fixed, and says why.
final class TorchModule {
    let className: String
    let model: Layer
    let summary: String
    /// The traces read; the sequence variation is dropped when the forward cannot follow the length.
    private var traces: ONNXExport.Traces
    private var main: Graph { traces.main }
    /// Why the sequence length is fixed, when a language model's is.
    private var notes: [String]
    /// Each layer's dotted name in the module tree, for calls to its module (dropout, batch norm).
    private var paths: [ObjectIdentifier: String] = [:]
    private var initLines: [String] = []
    private var forwardLines: [String] = []
    private var values: [Graph.Source: String] = [:]
    private var usedNames: Set<String> = []
    private var usesBatch = false
    private var usesLength = false

    init(className: String, model: Layer, example: Tensor, summary: String) throws {
        self.className = className
        self.model = model
        self.summary = summary
        (traces, notes) = try ONNXExport.trace(model, example: example, op: "export_torch")
        // A length the forward does not follow is fixed; a batch size it does not follow is an error.
        if let variation = traces.differing, variation.axis == .sequence {
            fixSequence(
                because: "it runs different operations at \(variation.at(main: true)) and \(variation.at(main: false))")
        }
        if let variation = traces.differing {
            throw TensorError(
                .argument, "export_torch",
                "\(className.lowercased()) runs different operations at \(variation.at(main: true)) and "
                    + "\(variation.at(main: false)) (\(traces.firstDifference(variation))), so one forward cannot "
                    + "stand for it: its code takes another path for another batch size, as a slice or index of the "
                    + "batch axis (x[1:], x[0:1]) or a loop over it does"
            )
        }
    }

    /// Keeps the sequence length at the traced one, saying why.
    private func fixSequence(because reason: String) {
        guard let sequence = traces.sequence else { return }
        notes.append("the sequence length is fixed at \(sequence.sizes.main): \(reason)")
        traces = traces.fixingSequence
    }

    /// The class's source text: the length dynamic when the forward can follow it, else fixed.
    func source() throws -> String {
        guard traces.sequence != nil else { return try translated() }
        do {
            return try translated()
        } catch let error as TensorError {
            fixSequence(because: error.message)
            return try translated()
        }
    }

    private func translated() throws -> String {
        initLines = []
        forwardLines = []
        values = [:]
        paths = [:]
        usedNames = ["x", "self", "batch", "length"]
        (usesBatch, usesLength, hasBatchNorm) = (false, false, false)
        try buildTree()
        values[.input(0)] = "x"
        for node in main.topLevel { try translate(node) }
        guard main.outputs.count == 1 else {
            throw TensorError(
                .argument, "export_torch", "the model returns \(main.outputs.count) values; export_torch writes one")
        }
        let output = try value(main.outputs[0])
        var lines = ["class \(className)(nn.Module):"]
        lines += ["    \"\"\"" + summary.replacingOccurrences(of: "\"\"\"", with: "'''") + "\"\"\"", ""]
        lines += ["    def __init__(self):", "        super().__init__()"]
        lines += initLines.map { "        " + $0 }
        lines += frozenLines()
        lines += ["", "    def forward(self, x):"]
        lines += notes.map { "        # " + $0.replacingOccurrences(of: "\n", with: " ") }
        lines += inputCheck()
        if usesBatch { lines.append("        batch = x.shape[0]") }
        if usesLength { lines.append("        length = x.shape[1]") }
        lines += forwardLines.map { "        " + $0 }
        lines.append("        return \(output)")
        lines += frozenNormTrain()
        return lines.joined(separator: "\n") + "\n"
    }

    /// The parameters the model has frozen (`freeze`), frozen in the class too, so a PyTorch loop
    /// trains what Retort's would; and the class starts in `train()`'s mode, its rule below applied.
    private func frozenLines() -> [String] {
        let frozen = model.namedParameters.filter { !$0.1.requiresGrad }.map(\.0)
        var lines: [String] = []
        if !frozen.isEmpty {
            lines += [
                "        # Frozen in Retort (freeze): not trained there, so not here.",
                "        for name in \(Python.strings(frozen)):",
                "            self.get_parameter(name).requires_grad_(False)",
            ]
        }
        if hasBatchNorm { lines.append("        self.train()") }
        return lines
    }

    /// `train()` for a class with batch norms: Retort normalises with the running statistics, in
    /// training too, where a batch norm's weight and bias are frozen; PyTorch's would use the
    /// batch's, and the same weights would give other outputs without a word.
    private func frozenNormTrain() -> [String] {
        guard hasBatchNorm else { return [] }
        return [
            "",
            "    def train(self, mode=True):",
            "        # As Retort: a batch norm whose weight and bias are frozen keeps its running statistics",
            "        # in training too (PyTorch's would normalise with the batch's), so it stays in eval mode.",
            "        super().train(mode)",
            "        for module in self.modules():",
            "            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine and not any(",
            "                    p.requires_grad for p in module.parameters(recurse=False)):",
            "                module.eval()",
            "        return self",
        ]
    }

    /// The lines refusing an input of sizes the class does not follow: a token model given another
    /// length than it can take would broadcast it over the traced positions, or index past its
    /// position table, and give wrong logits or a bare IndexError.
    private func inputCheck() -> [String] {
        let row = Array(main.shape(of: .input(0)).dropFirst())
        guard traces.sequence != nil else {
            return [
                "        if list(x.shape[1:]) != \(Python.ints(row)):",
                "            raise ValueError(f\"\(className) takes inputs of shape [batch\(row.map { ", \($0)" }.joined())] "
                    + "(export_torch fixed every size but the batch as traced), got {list(x.shape)}\")",
            ]
        }
        // The longest sequence: what every position table has rows for (nanoGPT's block size).
        let limits = main.nodes.compactMap { node -> Int? in
            guard node.op.name == "embedding", node.inputs.count == 2, case .constant(let i) = node.inputs[1],
                case .positions(let start)? = ONNXExport.sequenceConstant(i, traces)
            else { return nil }
            return main.shape(of: node.inputs[0]).first.map { $0 - start }
        }
        guard let block = limits.min() else {
            return [
                "        if x.dim() != 2 or x.shape[1] < 1:",
                "            raise ValueError(f\"\(className) takes token ids of shape [batch, length], got {list(x.shape)}\")",
            ]
        }
        return [
            "        if x.dim() != 2 or not 1 <= x.shape[1] <= \(block):",
            "            raise ValueError(f\"\(className) takes token ids of shape [batch, length] with length 1 to \(block) "
                + "(its block size), got {list(x.shape)}\")",
        ]
    }

    // MARK: - The module tree

    /// Adds every layer under the model to `__init__`, at its dotted name; a layer held in two
    /// places is one module added under both names, as PyTorch shares it.
    private func buildTree() throws {
        created = [ObjectIdentifier(model): "self"]
        containers = ["": "self"]
        paths[ObjectIdentifier(model)] = ""
        try visit(model, [])
    }

    private var created: [ObjectIdentifier: String] = [:]
    /// Whether the class holds a batch norm (and so `train()`'s rule for frozen ones).
    private var hasBatchNorm = false
    private var containers: [String: String] = [:]

    /// The Python variable of the container at `path`, made (with its parents) when missing.
    private func container(_ path: [String]) -> String {
        let key = path.joined(separator: ".")
        if let known = containers[key] { return known }
        let parent = container(Array(path.dropLast()))
        let name = fresh("m_" + path.joined(separator: "_"))
        initLines.append("\(name) = Container()")
        initLines.append("\(parent).add_module(\(Python.string(path.last!)), \(name))")
        containers[key] = name
        return name
    }

    /// Adds `layer` at `path`: a standard module, or a container with its own parameters and
    /// buffers and then its children.
    private func visit(_ layer: Layer, _ path: [String]) throws {
        if !path.isEmpty, try addStandard(layer, at: path) { return }
        let childNames = layer.children.map(\.name)
        // Parameters and buffers of this layer itself, not of a child.
        let own = { (name: String) in !childNames.contains { name.hasPrefix($0 + ".") } }
        _ = container(path)
        for (name, variable) in layer.namedParameters where own(name) {
            let parts = name.split(separator: ".").map(String.init)
            initLines.append(
                "\(container(path + parts.dropLast())).register_parameter(\(Python.string(parts.last!)), "
                    + "nn.Parameter(torch.empty(\(Python.ints(variable.shape)))))")
        }
        for (name, tensor) in layer.namedBuffers where own(name) {
            let parts = name.split(separator: ".").map(String.init)
            initLines.append(
                "\(container(path + parts.dropLast())).register_buffer(\(Python.string(parts.last!)), "
                    + "torch.empty(\(Python.ints(tensor.shape))))")
        }
        for (name, child) in layer.children {
            let childPath = path + name.split(separator: ".").map(String.init)
            let id = ObjectIdentifier(child)
            if let known = created[id] {
                initLines.append(
                    "\(container(Array(childPath.dropLast()))).add_module(\(Python.string(childPath.last!)), \(known))")
                continue
            }
            paths[id] = childPath.joined(separator: ".")
            try visit(child, childPath)
            created[id] = containers[childPath.joined(separator: ".")] ?? moduleExpression(childPath)
        }
    }

    /// `self.get_submodule("a.b")`: the module at `path`.
    private func moduleExpression(_ path: [String]) -> String {
        path.isEmpty ? "self" : "self.get_submodule(\(Python.string(path.joined(separator: "."))))"
    }

    /// Adds `layer` as a standard `nn` module when it is one; false for any other layer.
    private func addStandard(_ layer: Layer, at path: [String]) throws -> Bool {
        let module: String
        switch layer {
        case let l as Linear:
            module = "nn.Linear(\(l.inFeatures), \(l.outFeatures)\(l.bias == nil ? ", bias=False" : ""))"
        case let c as Conv2d:
            let w = c.weight.shape
            module =
                "nn.Conv2d(\(w[1]), \(w[0]), kernel_size=\(w[2]), stride=\(c.stride), padding=\(c.padding)\(c.bias == nil ? ", bias=False" : ""))"
        case let b as BatchNorm:
            hasBatchNorm = true
            module =
                "nn.BatchNorm\(batchNormRank(b) == 4 ? "2" : "1")d(\(b.weight.shape[0]), eps=\(Python.float(b.eps)), momentum=\(Python.float(b.momentum)))"
        case let n as LayerNorm:
            module = "nn.LayerNorm(\(Python.ints(n.normalizedShape)), eps=\(Python.float(n.eps)))"
        case let e as Embedding:
            module = "nn.Embedding(\(e.count), \(e.width))"
        case let p as Positions:
            module = "nn.Embedding(\(p.block), \(p.table.width))"
        case let a as Activation:
            switch a.kind {
            case .relu: module = "nn.ReLU()"
            case .tanh: module = "nn.Tanh()"
            case .sigmoid: module = "nn.Sigmoid()"
            case .gelu: module = "nn.GELU()"
            case .silu: module = "nn.SiLU()"
            case .leakyRelu(let slope): module = "nn.LeakyReLU(\(Python.float(slope)))"
            }
        case let d as Dropout:
            module = "nn.Dropout(\(Python.float(d.probability)))"
        case let p as Pool2d:
            module = "nn.\(p.kind == .max ? "MaxPool2d" : "AvgPool2d")(\(p.kernel), stride=\(p.stride), padding=\(p.padding))"
        case is Flatten:
            module = "nn.Flatten()"
        default:
            return false
        }
        initLines.append("\(container(Array(path.dropLast()))).add_module(\(Python.string(path.last!)), \(module))")
        return true
    }

    /// The rank of the input a batch norm sees in the trace (2 for BatchNorm1d, 4 for 2d).
    private func batchNormRank(_ layer: BatchNorm) -> Int {
        let node = main.nodes.first { $0.op.name == "batch_norm" && $0.owner === layer }
        return node.map { main.shape(of: $0.inputs[0]).count } ?? 2
    }

    // MARK: - The forward pass

    private func fresh(_ base: String) -> String {
        var name = Python.identifier(base)
        var n = 1
        while usedNames.contains(name) {
            n += 1
            name = Python.identifier(base) + "_\(n)"
        }
        usedNames.insert(name)
        return name
    }

    /// Translates one node into a line of `forward`: by the op table, or a group by its members.
    private func translate(_ node: Graph.Node) throws {
        for variation in traces.variations where !["reshape", "expand", "slice"].contains(node.op.name) {
            let theirs = variation.graph.nodes[node.id].op
            guard theirs != node.op else { continue }
            throw cannotExpress(
                node,
                because: "its attributes depend on the \(variation.what) (\(node.op) at \(variation.at(main: true)), "
                    + "\(theirs) at \(variation.at(main: false)))")
        }
        if let expression = try expression(node) {
            let name = fresh(node.name)
            forwardLines.append("\(name) = \(expression)")
            values[.node(node.id)] = name
        } else if node.isGroup {
            for member in main.members(of: node.id) { try translate(member) }
            guard let output = node.groupOutput else { throw cannotExpress(node, because: "the group never produced an output") }
            values[.node(node.id)] = try value(output)
        } else {
            throw cannotExpress(node)
        }
    }

    /// The Python expression standing for a source.
    private func value(_ source: Graph.Source) throws -> String {
        if let known = values[source] { return known }
        switch source {
        case .parameter(let i):
            return "self.get_parameter(\(Python.string(main.parameters[i].name)))"
        case .constant(let i):
            if let made = sequenceConstant(i) {
                let name = fresh(made.base)
                forwardLines.append("\(name) = \(made.expression)")
                values[source] = name
                return name
            }
            let a = main.constants[i]
            for variation in traces.variations {
                let b = variation.graph.constants[i]
                guard a.shape == b.shape, zip(a.scalars, b.scalars).allSatisfy({ $0 == $1 || ($0.isNaN && $1.isNaN) }) else {
                    throw TensorError(
                        .argument, "export_torch",
                        "the constant \(main.label(of: source)) differs between \(variation.what)s or inputs: it was computed "
                            + "outside the traced operations, so model.py would hold the example's values" + ONNXExport.untraced)
                }
            }
            if let name = main.constantNames[i] { return "self.get_buffer(\(Python.string(name)))" }
            if a.rank == 0, let scalar = a.scalar { return Python.float(scalar) }
            guard a.count <= 1 << 16 else {
                throw TensorError(
                    .argument, "export_torch",
                    "the forward pass uses a constant of \(a.count) values \(formatShape(a.shape)); model.py holds at most 65536")
            }
            let name = fresh("constant")
            initLines.append(
                "self.register_buffer(\(Python.string(name)), torch.tensor(\(floats(a.scalars))).reshape(\(Python.ints(a.shape))), persistent=False)"
            )
            values[source] = "self.\(name)"
            return "self.\(name)"
        case .input, .node:
            throw TensorError(.argument, "export_torch", "\(main.label(of: source)) is read but was not translated")
        }
    }

    /// The positions `start..<start + T` or the causal mask `[T, T]`, made from the input's length
    /// as the language layers make them; nil for any other constant.
    private func sequenceConstant(_ i: Int) -> (base: String, expression: String)? {
        switch ONNXExport.sequenceConstant(i, traces) {
        case .positions(let start)?:
            usesLength = true
            let end = start == 0 ? "length" : "\(start) + length"
            return ("positions", "torch.arange(\(start), \(end), dtype=torch.float32, device=x.device)")
        case .causalMask?:
            usesLength = true
            return ("causal_mask", "torch.ones(length, length, device=x.device).tril()")
        case nil:
            return nil
        }
    }

    private func floats(_ values: [Float]) -> String { "[" + values.map(Python.float).joined(separator: ", ") + "]" }

    private func input(_ node: Graph.Node, _ position: Int) throws -> String {
        guard node.inputs.indices.contains(position) else {
            throw cannotExpress(node, because: "it has \(node.inputs.count) inputs, the translation reads input \(position + 1)")
        }
        return try value(node.inputs[position])
    }

    /// A value that must be a tensor for the torch function reading it (a scalar constant is wrapped).
    private func tensorInput(_ node: Graph.Node, _ position: Int) throws -> String {
        let text = try input(node, position)
        if case .constant(let i) = node.inputs[position], main.constants[i].rank == 0 { return "torch.tensor(\(text))" }
        return text
    }

    static let binary: [String: String] = [
        "add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "remainder": "%", "matmul": "@",
    ]
    static let unary: [String: String] = [
        "neg": "torch.neg", "exp": "torch.exp", "log": "torch.log", "sqrt": "torch.sqrt", "abs": "torch.abs", "cos": "torch.cos",
        "sin": "torch.sin", "tanh": "torch.tanh", "sigmoid": "torch.sigmoid", "relu": "torch.relu", "silu": "F.silu",
        "gelu": "F.gelu",
    ]
    static let comparisons: [String: String] = [
        "eq": "torch.eq", "ne": "torch.ne", "lt": "torch.lt", "le": "torch.le", "gt": "torch.gt", "ge": "torch.ge",
    ]

    /// The expression computing `node`, or nil for a group the table leaves to its members.
    private func expression(_ node: Graph.Node) throws -> String? {
        let op = node.op
        if let symbol = Self.binary[op.name] { return "(\(try input(node, 0)) \(symbol) \(try input(node, 1)))" }
        if let function = Self.unary[op.name] { return "\(function)(\(try input(node, 0)))" }
        switch op.name {
        case "identity":
            return try input(node, 0)
        case "detach":
            return "\(try input(node, 0)).detach()"
        case "scale":
            return "(\(try input(node, 0)) * \(Python.float(try float(node, "by"))))"
        case "shift":
            return "(\(try input(node, 0)) + \(Python.float(try float(node, "by"))))"
        case "maximum", "minimum":
            return "torch.\(op.name)(\(try tensorInput(node, 0)), \(try tensorInput(node, 1)))"
        case "leaky_relu":
            return "F.leaky_relu(\(try input(node, 0)), \(Python.float(try float(node, "slope"))))"
        case "clamp":
            let bounds = [("min", op.float("min")), ("max", op.float("max"))].compactMap { name, bound in
                bound.map { "\(name)=\(Python.float($0))" }
            }
            return "torch.clamp(\(([try input(node, 0)] + bounds).joined(separator: ", ")))"
        case "softmax":
            return "torch.softmax(\(try input(node, 0)), dim=\(try int(node, "axis")))"
        case "log_softmax":
            return "F.log_softmax(\(try input(node, 0)), dim=\(try int(node, "axis")))"
        case "sum", "mean", "max", "min", "logsumexp":
            let axes = try ints(node, "axes")
            let keep = op.bool("keep_dims") == true
            let function =
                [
                    "sum": "torch.sum", "mean": "torch.mean", "max": "torch.amax", "min": "torch.amin",
                ][op.name] ?? "torch.logsumexp"
            if axes.isEmpty && !keep && op.name != "logsumexp" { return "\(function)(\(try input(node, 0)))" }
            return "\(function)(\(try input(node, 0)), dim=\(Python.ints(axes)), keepdim=\(keep ? "True" : "False"))"
        case "linear":
            let bias = node.inputs.count > 2 ? ", \(try input(node, 2))" : ""
            return "F.linear(\(try input(node, 0)), \(try input(node, 1))\(bias))"
        case "conv2d":
            let bias = node.inputs.count > 2 ? try input(node, 2) : "None"
            return
                "F.conv2d(\(try input(node, 0)), \(try input(node, 1)), \(bias), stride=\(try int(node, "stride")), padding=\(try int(node, "padding")))"
        case "max_pool2d", "avg_pool2d":
            return
                "F.\(op.name)(\(try input(node, 0)), \(try int(node, "kernel")), stride=\(try int(node, "stride")), padding=\(try int(node, "padding")))"
        case "flatten":
            return "torch.flatten(\(try input(node, 0)), \(try int(node, "axis")))"
        case "reshape":
            // One axis that grows with the batch or the length is -1, which reshape infers; several are written out.
            let target = try dims(.node(node.id))
            let inferred = target.filter(\.isDynamic).count == 1
            let sizes = target.map { dim -> String in
                if dim.isDynamic && inferred { return "-1" }
                return python(dim)
            }
            return "\(try input(node, 0)).reshape(\(sizes.joined(separator: ", "))\(sizes.count == 1 ? "," : ""))"
        case "permute":
            return "\(try input(node, 0)).permute(\(try ints(node, "dims").map(String.init).joined(separator: ", ")))"
        case "expand":
            return try expand(node)
        case "slice":
            return try slice(node)
        case "concat":
            let parts = try node.inputs.indices.map { try input(node, $0) }
            return "torch.cat([\(parts.joined(separator: ", "))], dim=\(try int(node, "axis")))"
        case "gather":
            return "torch.gather(\(try input(node, 0)), \(try int(node, "axis")), \(try input(node, 1)).long())"
        case "embedding":
            return "F.embedding(\(try input(node, 1)).long(), \(try input(node, 0)))"
        case "compare":
            let name = op.string("comparison") ?? ""
            guard let function = Self.comparisons[name] else {
                throw cannotExpress(node, because: "unknown comparison '\(name)'")
            }
            return "\(function)(\(try tensorInput(node, 0)), \(try input(node, 1))).to(torch.float32)"
        case "where":
            return "torch.where(\(try tensorInput(node, 0)) != 0, \(try input(node, 1)), \(try input(node, 2)))"
        case "dropout":
            // In the module's own mode: active after model.train(), as Retort's in training.
            if let owner = node.owner, let path = paths[ObjectIdentifier(owner)], !path.isEmpty {
                return "\(moduleExpression(path.split(separator: ".").map(String.init)))(\(try input(node, 0)))"
            }
            return "F.dropout(\(try input(node, 0)), p=\(Python.float(try float(node, "p"))), training=self.training)"
        case "batch_norm":
            // The module itself: batch statistics and running averages in train mode, the running ones in eval.
            guard let owner = node.owner as? BatchNorm, let path = paths[ObjectIdentifier(owner)], !path.isEmpty else {
                return nil
            }
            return "\(moduleExpression(path.split(separator: ".").map(String.init)))(\(try input(node, 0)))"
        case "layer_norm":
            return try layerNorm(node)
        case "int8_linear", "int8_conv2d":
            throw cannotExpress(node, because: "an int8 model is not trained; export the float model")
        default:
            if node.isGroup { return nil }
            throw cannotExpress(node)
        }
    }

    /// `F.layer_norm` over trailing axes that do not include the batch; other cases by members.
    private func layerNorm(_ node: Graph.Node) throws -> String? {
        let axes = try ints(node, "axes")
        let shape = main.shape(of: node.inputs[0])
        let inDims = try dims(node.inputs[0])
        guard let first = axes.first, axes == Array(first..<shape.count), !axes.contains(where: { inDims[$0].isDynamic })
        else { return nil }
        let (hasWeight, hasBias) = (node.op.bool("weight") == true, node.op.bool("bias") == true)
        let weight = hasWeight ? try input(node, 1) : "None"
        let bias = hasBias ? try input(node, hasWeight ? 2 : 1) : "None"
        return
            "F.layer_norm(\(try input(node, 0)), \(Python.ints(Array(shape[first...]))), \(weight), \(bias), eps=\(Python.float(try float(node, "eps"))))"
    }

    /// `x.expand(...)`: -1 keeps a size the input has; the batch and the length are `batch` and `length`.
    private func expand(_ node: Graph.Node) throws -> String {
        let target = try dims(.node(node.id))
        let source = try dims(node.inputs[0])
        let offset = target.count - source.count
        let sizes = target.enumerated().map { axis, dim -> String in
            if axis >= offset && source[axis - offset] == dim { return "-1" }
            return python(dim)
        }
        return "\(try input(node, 0)).expand(\(sizes.joined(separator: ", ")))"
    }

    /// Python slicing: whole along the batch and the length, from the traced starts elsewhere
    /// (counted from the end where the start moved with the input's size).
    private func slice(_ node: Graph.Node) throws -> String {
        let inA = main.shape(of: node.inputs[0])
        let inDims = try dims(node.inputs[0])
        let outDims = try dims(.node(node.id))
        let (startsA, steps) = (try ints(node, "starts"), try ints(node, "steps"))
        // The same slice in the other traces: its input's shape and its starts there.
        let others = traces.variations.map {
            (shape: $0.graph.shape(of: node.inputs[0]), starts: $0.graph.nodes[node.id].op.ints("starts") ?? [])
        }
        guard startsA.count == steps.count, others.allSatisfy({ $0.starts.count == steps.count }), steps.count <= inA.count
        else {
            throw cannotExpress(node, because: "its starts and steps do not match its input \(formatShape(inA))")
        }
        var parts: [String] = []
        for axis in steps.indices {
            let step = steps[axis]
            let count = node.shape[axis]
            let stepText = step == 1 ? "" : ":\(step)"
            if outDims[axis].isDynamic {
                guard outDims[axis] == inDims[axis], step == 1 else {
                    throw cannotExpress(
                        node, because: "it keeps part of axis \(axis), whose size grows with the batch or the length")
                }
                parts.append(":")
            } else if others.allSatisfy({ $0.starts[axis] == startsA[axis] }) {
                let start = startsA[axis]
                let end = count == 0 ? start : start + (count - 1) * step + 1
                let whole = start == 0 && step == 1 && end == inA[axis] && others.allSatisfy { $0.shape[axis] == inA[axis] }
                parts.append(whole ? ":" : "\(start):\(end)\(stepText)")
            } else if others.allSatisfy({ $0.starts[axis] - $0.shape[axis] == startsA[axis] - inA[axis] }) {
                let start = startsA[axis] - inA[axis]
                let end = count == 0 ? start : start + (count - 1) * step + 1
                parts.append("\(start):\(end == 0 ? "" : String(end))\(stepText)")
            } else {
                throw cannotExpress(
                    node, because: "where it starts on axis \(axis) depends on the batch size or the sequence length")
            }
        }
        return "\(try input(node, 0))[\(parts.joined(separator: ", "))]"
    }

    private func dims(_ source: Graph.Source) throws -> [ONNXExport.Dim] {
        try ONNXExport.dims(of: source, traces, op: "export_torch")
    }

    /// A dimension as Python computes it in `forward`, from the input's batch size and length.
    private func python(_ dim: ONNXExport.Dim) -> String {
        if case .dynamic(_, let batch, let sequence) = dim {
            usesBatch = usesBatch || batch
            usesLength = usesLength || sequence
        }
        return dim.python
    }

    private func int(_ node: Graph.Node, _ name: String) throws -> Int {
        guard let value = node.op.int(name) else { throw cannotExpress(node, because: "it has no attribute '\(name)'") }
        return value
    }

    private func ints(_ node: Graph.Node, _ name: String) throws -> [Int] {
        guard let value = node.op.ints(name) else { throw cannotExpress(node, because: "it has no attribute '\(name)'") }
        return value
    }

    private func float(_ node: Graph.Node, _ name: String) throws -> Float {
        guard let value = node.op.float(name) else { throw cannotExpress(node, because: "it has no attribute '\(name)'") }
        return value
    }

    /// `export_torch: cannot express node 'foo_1' (op foo) in PyTorch`, with the reason when there is one.
    private func cannotExpress(_ node: Graph.Node, because reason: String? = nil) -> TensorError {
        TensorError(
            .argument, "export_torch",
            "cannot express node '\(node.name)' (op \(node.op.name)) of \(className.lowercased()) in PyTorch"
                + (reason.map { ": \($0)" } ?? ""))
    }
}
