import RetortGraph
import RetortTensor

extension ONNXExport {
    /// One traced graph being turned into an ONNX graph: which ONNX value stands for each traced
    /// source, and the helpers every op's translation uses (emitting nodes, adding constants).
    ///
    /// The op table itself is `translateOp` (ONNXExport+Ops.swift); int8 layers are in
    /// ONNXExport+Int8.swift, token ids, positions and the causal mask in ONNXExport+Language.swift,
    /// and the analysis of the batch and sequence axes in ONNXExport+Dynamic.swift.
    struct Translation {
        var builder: ONNXGraphBuilder
        /// The graph that is translated and the variations that tell its dynamic dimensions.
        let traces: Traces
        /// The main trace: the graph that is translated.
        var graph: Graph { traces.main }
        /// Each layer's dotted name, for the tensors of int8 layers (which are not parameters).
        let layerNames: [ObjectIdentifier: String]
        /// The ONNX value standing for each source translated so far.
        private var values: [Graph.Source: String] = [:]
        /// Sources whose ONNX value is a bool tensor (comparisons); read as numbers, they are cast once.
        private var boolSources: Set<Graph.Source> = []
        private var floatsOfBools: [Graph.Source: String] = [:]
        /// Names claimed for parameters and named buffers before any name is invented, so an
        /// invented name can never take a state-dict name.
        private var reservedNames: [Graph.Source: String] = [:]
        private var outputNames: [String] = []
        /// Graph inputs that are token ids, declared int64 and read only by embeddings.
        let idsInputs: Set<Int>
        /// The runtime batch size and sequence length as one-element int64 tensors, once something needs them.
        var runtimeSizes: [Axis: String] = [:]
        /// Values made once and shared by every node that needs them (the causal mask, the positions 0..<T).
        var shared: [SequenceConstant: String] = [:]
        /// The node being translated: it names the ONNX nodes made for it.
        private(set) var current: Graph.Node?

        init(traces: Traces, name: String, layerNames: [ObjectIdentifier: String]) throws {
            let graph = traces.main
            if let variation = traces.differing {
                let slices = variation.axis == .batch ? "the batch axis (x[1:], x[0:1])" : "the sequence axis (x[:, 1:])"
                throw TensorError(
                    .argument, "export",
                    "the model runs different operations at \(variation.at(main: true)) and \(variation.at(main: false)) "
                        + "(\(graph.nodes.count) and \(variation.graph.nodes.count) nodes; "
                        + "\(traces.firstDifference(variation))), so one ONNX graph cannot stand for it: its code takes "
                        + "another path for another \(variation.what), as a slice or index of \(slices) or a loop over it does"
                )
            }
            self.traces = traces
            self.layerNames = layerNames
            idsInputs = Set(graph.inputs.indices.filter { ONNXExport.readsTokenIDs(graph, input: $0) })
            builder = try ONNXGraphBuilder(name: name)
            for (i, input) in graph.inputs.enumerated() {
                let dims = try ONNXExport.dims(of: .input(i), traces)
                values[.input(i)] = try builder.addInput(
                    name: input.name, elementType: idsInputs.contains(i) ? .int64 : .float, shape: dims.map(\.onnx))
            }
            for (i, parameter) in graph.parameters.enumerated() {
                reservedNames[.parameter(i)] = builder.freshName(parameter.name)
            }
            for (i, name) in graph.constantNames.enumerated() {
                if let name { reservedNames[.constant(i)] = builder.freshName(name) }
            }
            for i in graph.outputs.indices {
                outputNames.append(builder.freshName(graph.outputs.count == 1 ? "output" : "output_\(i)"))
            }
        }

        /// Translates every top-level node, then declares the graph's outputs.
        mutating func translateAll() throws {
            for node in graph.topLevel { try translate(node) }
            for (source, name) in zip(graph.outputs, outputNames) {
                var value = try self.value(source)
                let madeByNode = builder.graph.node.contains { $0.output.contains(value) }
                if madeByNode && !builder.graph.output.contains(where: { $0.name == value }) {
                    try builder.renameNodeOutput(value, to: name)
                    let old = value
                    values = values.mapValues { $0 == old ? name : $0 }
                    floatsOfBools = floatsOfBools.mapValues { $0 == old ? name : $0 }
                    value = name
                } else {
                    // An input, a constant or a value already returned: passed on by an Identity.
                    value = try builder.addNode(opType: "Identity", inputs: [value], outputs: [name], name: name)[0]
                }
                try builder.addOutput(name: value, shape: try dims(of: source).map(\.onnx))
            }
        }

        /// Translates one node: by the op table, or a group it does not know by its members.
        mutating func translate(_ node: Graph.Node) throws {
            let previous = current
            current = node
            defer { current = previous }
            try checkAttributesAgree(node)
            if let value = try translateOp(node) {
                values[.node(node.id)] = value
            } else if node.isGroup {
                values[.node(node.id)] = try expand(node)
            } else {
                throw cannotExpress(node)
            }
        }

        /// A group's members translated one by one; returns the value of the group's output.
        mutating func expand(_ group: Graph.Node) throws -> String {
            for member in graph.members(of: group.id) { try translate(member) }
            guard let output = group.groupOutput else {
                throw cannotExpress(group, because: "the group never produced an output")
            }
            return try value(output)
        }

        // MARK: - Values

        /// The ONNX value (float) standing for `source`; parameters and constants become
        /// initializers the first time they are read. (Token ids stay int64: only embeddings read them.)
        mutating func value(_ source: Graph.Source) throws -> String {
            try translateIfFollowingSequence(source)
            if boolSources.contains(source) {
                if let cast = floatsOfBools[source] { return cast }
                let bool = try value(ofBool: source)
                let cast = try emit("Cast", [bool], [.int("to", TensorProto.DataType.float.rawValue)])
                floatsOfBools[source] = cast
                return cast
            }
            if let known = values[source] { return known }
            let name: String
            switch source {
            case .parameter(let i):
                name = try builder.addInitializer(
                    name: reservedNames[source] ?? builder.freshName(graph.parameters[i].name),
                    tensor: graph.parameters[i].variable.value)
            case .constant(let i):
                try checkConstant(i)
                name = try builder.addInitializer(
                    name: reservedNames[source] ?? builder.freshName("\(current?.name ?? "graph").constant"),
                    tensor: graph.constants[i])
            case .input, .node:
                // Only a value from inside a group that was translated whole can be missing.
                throw TensorError(
                    .argument, "export",
                    "\(graph.label(of: source)) is read\(current.map { " by node '\($0.name)'" } ?? "") but was not "
                        + "translated: it is inside a group written as one ONNX node")
            }
            values[source] = name
            return name
        }

        /// The ONNX value of a node's input at `position`.
        mutating func input(_ node: Graph.Node, _ position: Int) throws -> String {
            guard node.inputs.indices.contains(position) else {
                throw cannotExpress(
                    node, because: "it has \(node.inputs.count) inputs, the translation reads input \(position + 1)")
            }
            return try value(node.inputs[position])
        }

        /// Marks the current node's value as a bool tensor (a comparison's result).
        mutating func markBool(_ node: Graph.Node) { boolSources.insert(.node(node.id)) }

        /// `source` as a bool tensor (Where's condition): a comparison's own result, else non-zero.
        mutating func value(ofBool source: Graph.Source) throws -> String {
            try translateIfFollowingSequence(source)
            if boolSources.contains(source), let bool = values[source] { return bool }
            return try emit("Cast", [value(source)], [.int("to", TensorProto.DataType.bool.rawValue)])
        }

        /// A constant the language layers make from the sequence length (the positions 0..<T, the
        /// causal mask), translated into the nodes that make it from the runtime length.
        private mutating func translateIfFollowingSequence(_ source: Graph.Source) throws {
            guard case .constant(let i) = source, values[source] == nil, let pattern = sequenceConstant(i) else { return }
            switch pattern {
            case .positions(let start):
                values[source] = try emit(
                    "Cast", [positions(from: start)], [.int("to", TensorProto.DataType.float.rawValue)])
            case .causalMask:
                values[source] = try causalMask()
                boolSources.insert(source)
            }
        }

        /// A constant's value must not come from the batch size, the sequence length or the input's
        /// values: any of them would freeze what the example happened to be into the file.
        func checkConstant(_ i: Int) throws {
            let a = graph.constants[i]
            let user = current.map { " read by node '\($0.name)' (op \($0.op.name))" } ?? ""
            for variation in traces.variations {
                let b = variation.graph.constants[i]
                let dynamic = variation.axis == .batch ? "batch" : "sequence length"
                let followed = variation.axis == .batch ? "" : " (of such constants, the positions 0..<T and a causal mask can)"
                guard a.shape == b.shape else {
                    throw TensorError(
                        .argument, "export",
                        "the constant \(graph.label(of: .constant(i)))\(user) is \(formatShape(a.shape)) at "
                            + "\(variation.at(main: true)) and \(formatShape(b.shape)) at \(variation.at(main: false)): made "
                            + "from the \(variation.what), it cannot be written with a dynamic \(dynamic)\(followed)"
                            + ONNXExport.untraced)
                }
                guard zip(a.scalars, b.scalars).allSatisfy({ $0 == $1 || ($0.isNaN && $1.isNaN) }) else {
                    throw TensorError(
                        .argument, "export",
                        "the constant \(graph.label(of: .constant(i)))\(user) differs between the traces at "
                            + "\(variation.at(main: true)) and \(variation.at(main: false)): it was computed outside the traced "
                            + "operations (from the \(variation.axis == .batch ? "batch size" : "sequence length"), the input's values, "
                            + "or at random), so the file would hold the example's values"
                            + ONNXExport.untraced)
                }
            }
        }

        // MARK: - Emitting

        /// Adds an ONNX node for the current traced node, named `<node>/<OpType>`; returns its output.
        @discardableResult
        mutating func emit(_ opType: String, _ inputs: [String], _ attributes: [AttributeProto] = []) throws -> String {
            try builder.addNode(
                opType: opType, inputs: inputs, attributes: attributes, name: current.map { "\($0.name)/\(opType)" })
        }

        /// Adds an ONNX node made once for every node alike (a runtime size, the causal mask),
        /// named `<name>/<OpType>` rather than after the node that first needed it; returns its output.
        mutating func emitShared(_ opType: String, _ inputs: [String], _ name: String) throws -> String {
            try builder.addNode(opType: opType, inputs: inputs, name: "\(name)/\(opType)")
        }

        /// An int64 initializer for a shared node, named `name` (or `name_1`...).
        mutating func sharedInt64s(_ values: [Int], dims: [Int], _ name: String) throws -> String {
            try builder.addInitializer(name: builder.freshName(name), int64: values.map(Int64.init), dims: dims)
        }

        /// A float32 initializer named after the current node and `hint`.
        mutating func floats(_ values: [Float], dims: [Int], _ hint: String) throws -> String {
            try builder.addInitializer(name: freshName(hint), floats: values, dims: dims)
        }

        /// A float32 scalar initializer (a factor, a bound).
        mutating func scalar(_ value: Float, _ hint: String) throws -> String { try floats([value], dims: [], hint) }

        /// A one-dimensional int64 initializer (axes, starts, a shape).
        mutating func int64s(_ values: [Int], _ hint: String) throws -> String {
            try builder.addInitializer(name: freshName(hint), int64: values.map(Int64.init), dims: [values.count])
        }

        /// An unused name for a value made for the current node: `<node>.<hint>`.
        mutating func freshName(_ hint: String) -> String {
            builder.freshName(current.map { "\($0.name).\(hint)" } ?? hint)
        }

        // MARK: - Errors

        /// `export: cannot express node 'foo_1' (op foo) in ONNX`, with the reason when there is one.
        func cannotExpress(_ node: Graph.Node, because reason: String? = nil) -> TensorError {
            TensorError(
                .argument, "export",
                "cannot express node '\(node.name)' (op \(node.op.name)) in ONNX" + (reason.map { ": \($0)" } ?? ""))
        }
    }
}
