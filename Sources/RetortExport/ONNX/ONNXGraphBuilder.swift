import RetortTensor

/// Builds a `GraphProto` one value at a time, keeping value names unique and nodes in an order
/// where every input is defined before it is read — the two rules a translator most easily breaks.
///
/// Names given explicitly (graph inputs, initializers, named node outputs) are used as given and
/// a clash is an error; `freshName` and the node forms without output names invent unused ones.
/// Claim the explicit names first: an invented name never reuses a taken one, but cannot foresee
/// names claimed later. A refused call changes nothing. Errors are `TensorError`s from `export`
/// that name the graph and the value.
public struct ONNXGraphBuilder {
    /// The graph so far.
    public private(set) var graph: GraphProto
    /// The values defined so far: graph inputs, initializers and node outputs.
    private var definedNames: Set<String> = []
    /// Names `freshName` handed out that nothing defines yet: never invented again, and free for
    /// the caller to define.
    private var reservedNames: Set<String> = []
    private var nodeNames: Set<String> = []
    private var outputNames: Set<String> = []

    /// An empty graph; `name` must not be empty (onnx.checker requires a graph name).
    public init(name: String) throws {
        guard !name.isEmpty else { throw TensorError(.argument, "export", "a graph needs a name") }
        graph = GraphProto(name: name)
    }

    // MARK: - Names

    /// An unused value name built from `hint`: `hint` itself when free, else `hint_1`, `hint_2`, ...
    /// The name is reserved, so a second call with the same hint gives another, and it can then be
    /// given as a node's output or an initializer's name.
    public mutating func freshName(_ hint: String) -> String {
        let name = ONNXGraphBuilder.unused(hint.isEmpty ? "value" : hint) {
            definedNames.contains($0) || reservedNames.contains($0)
        }
        reservedNames.insert(name)
        return name
    }

    /// `hint` when `taken` says it is free, else the first free `hint_N`.
    private static func unused(_ hint: String, taken: (String) -> Bool) -> String {
        guard taken(hint) else { return hint }
        var suffix = 1
        while taken("\(hint)_\(suffix)") { suffix += 1 }
        return "\(hint)_\(suffix)"
    }

    /// Throws, saying what wanted it, unless `name` may be defined now.
    private func checkUnused(_ name: String, for what: String) throws {
        guard !name.isEmpty else { throw TensorError(.argument, "export", "graph '\(graph.name)': \(what) needs a name") }
        guard !definedNames.contains(name) else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': \(what) '\(name)' takes a name already in use")
        }
    }

    /// Records `name` as defined; its reservation, if any, is used up.
    private mutating func define(_ name: String) {
        reservedNames.remove(name)
        definedNames.insert(name)
    }

    // MARK: - Inputs and outputs

    /// Declares a graph input, for example `addInput(name: "x", shape: ["batch", 784])`; returns its name.
    @discardableResult
    public mutating func addInput(
        name: String, elementType: TensorProto.DataType = .float, shape: [TensorShapeProto.Dimension]
    ) throws -> String {
        try checkUnused(name, for: "the input")
        define(name)
        graph.input.append(ValueInfoProto(name: name, elementType: elementType, shape: shape))
        return name
    }

    /// Declares an already defined value as a graph output, with its type and shape (nil when the
    /// rank is unknown).
    public mutating func addOutput(
        name: String, elementType: TensorProto.DataType = .float, shape: [TensorShapeProto.Dimension]?
    ) throws {
        guard definedNames.contains(name) else {
            throw TensorError(
                .argument,
                "export", "graph '\(graph.name)': the output '\(name)' is not defined by an input, initializer or node")
        }
        guard outputNames.insert(name).inserted else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': '\(name)' is declared as an output twice")
        }
        graph.output.append(ValueInfoProto(name: name, elementType: elementType, shape: shape))
    }

    /// Gives a node's output a new name, everywhere it is read: a translator learns which value is
    /// a graph's result only after making it, and the result should not be called `relu_3_output_0`.
    /// `name` must be unused (or reserved by `freshName`); declare outputs after renaming.
    public mutating func renameNodeOutput(_ old: String, to name: String) throws {
        guard graph.node.contains(where: { $0.output.contains(old) }) else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': cannot rename '\(old)', which is no node's output")
        }
        guard !outputNames.contains(old), !graph.valueInfo.contains(where: { $0.name == old }) else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': cannot rename '\(old)' after its type was declared")
        }
        try checkUnused(name, for: "the new name of '\(old)'")
        for i in graph.node.indices {
            graph.node[i].input = graph.node[i].input.map { $0 == old ? name : $0 }
            graph.node[i].output = graph.node[i].output.map { $0 == old ? name : $0 }
        }
        definedNames.remove(old)
        define(name)
    }

    /// Records the type of an intermediate value, which runtimes otherwise infer.
    public mutating func addValueInfo(
        name: String, elementType: TensorProto.DataType = .float, shape: [TensorShapeProto.Dimension]?
    ) throws {
        guard definedNames.contains(name) else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': value info for '\(name)', which is not defined")
        }
        graph.valueInfo.append(ValueInfoProto(name: name, elementType: elementType, shape: shape))
    }

    // MARK: - Initializers

    /// Adds a constant tensor under its own name; returns the name.
    @discardableResult
    public mutating func addInitializer(_ tensor: TensorProto) throws -> String {
        try checkUnused(tensor.name, for: "the initializer")
        define(tensor.name)
        graph.initializer.append(tensor)
        return tensor.name
    }

    /// Adds a float32 constant with a Retort tensor's shape and values.
    @discardableResult
    public mutating func addInitializer(name: String, tensor: Tensor) throws -> String {
        try addInitializer(TensorProto(name: name, float32: tensor))
    }

    /// Adds a float32 constant from row-major values (a scale, an epsilon, a per-channel vector).
    @discardableResult
    public mutating func addInitializer(name: String, floats values: [Float], dims: [Int]) throws -> String {
        try addInitializer(TensorProto(name: name, floats: values, dims: dims))
    }

    /// Adds an int8 constant (quantized weights, their zero points).
    @discardableResult
    public mutating func addInitializer(name: String, int8 values: [Int8], dims: [Int]) throws -> String {
        try addInitializer(TensorProto(name: name, int8: values, dims: dims))
    }

    /// Adds a uint8 constant (activation zero points).
    @discardableResult
    public mutating func addInitializer(name: String, uint8 values: [UInt8], dims: [Int]) throws -> String {
        try addInitializer(TensorProto(name: name, uint8: values, dims: dims))
    }

    /// Adds an int32 constant (quantized biases).
    @discardableResult
    public mutating func addInitializer(name: String, int32 values: [Int32], dims: [Int]) throws -> String {
        try addInitializer(TensorProto(name: name, int32: values, dims: dims))
    }

    /// Adds an int64 constant (Reshape's shape, Gather's indices, axes).
    @discardableResult
    public mutating func addInitializer(name: String, int64 values: [Int64], dims: [Int]) throws -> String {
        try addInitializer(TensorProto(name: name, int64: values, dims: dims))
    }

    // MARK: - Nodes

    /// Adds a node with one output, named after the node; returns the output's name.
    ///
    /// `name` is the node's name (made unique; the op type when nil), shown by viewers and in
    /// runtime errors, so a layer's path (`"encoder.0/attn"`) is a good choice.
    @discardableResult
    public mutating func addNode(
        opType: String, inputs: [String], attributes: [AttributeProto] = [], domain: String = "", name: String? = nil
    ) throws -> String {
        let outputs = try addNode(
            opType: opType, inputs: inputs, outputCount: 1, attributes: attributes, domain: domain, name: name)
        // outputCount: 1 gives exactly one name.
        return outputs[0]
    }

    /// Adds a node with `outputCount` outputs, named `<node>_output_<i>`; returns their names.
    @discardableResult
    public mutating func addNode(
        opType: String, inputs: [String], outputCount: Int, attributes: [AttributeProto] = [], domain: String = "",
        name: String? = nil
    ) throws -> [String] {
        let nodeName = try prepareNode(opType: opType, inputs: inputs, attributes: attributes, name: name)
        guard outputCount >= 1 else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': node '\(nodeName)' needs at least one output")
        }
        let outputs = (0..<outputCount).map { freshName("\(nodeName)_output_\($0)") }
        for output in outputs { define(output) }
        appendNode(opType: opType, nodeName: nodeName, inputs: inputs, outputs: outputs, attributes: attributes, domain: domain)
        return outputs
    }

    /// Adds a node whose outputs take the given names (each unused so far; `""` skips an optional
    /// output); returns them.
    @discardableResult
    public mutating func addNode(
        opType: String, inputs: [String], outputs: [String], attributes: [AttributeProto] = [], domain: String = "",
        name: String? = nil
    ) throws -> [String] {
        let nodeName = try prepareNode(opType: opType, inputs: inputs, attributes: attributes, name: name)
        guard outputs.contains(where: { !$0.isEmpty }) else {
            throw TensorError(.argument, "export", "graph '\(graph.name)': node '\(nodeName)' needs at least one named output")
        }
        var seen = Set<String>()
        for output in outputs where !output.isEmpty {
            try checkUnused(output, for: "the output of node '\(nodeName)'")
            guard seen.insert(output).inserted else {
                throw TensorError(.argument, "export", "graph '\(graph.name)': node '\(nodeName)' names two outputs '\(output)'")
            }
        }
        for output in outputs where !output.isEmpty { define(output) }
        appendNode(opType: opType, nodeName: nodeName, inputs: inputs, outputs: outputs, attributes: attributes, domain: domain)
        return outputs
    }

    /// Checks a node's op type, inputs and attribute names and returns a fresh node name.
    private func prepareNode(
        opType: String, inputs: [String], attributes: [AttributeProto], name: String?
    ) throws -> String {
        guard !opType.isEmpty else { throw TensorError(.argument, "export", "graph '\(graph.name)': a node needs an op type") }
        let nodeName = ONNXGraphBuilder.unused(name ?? opType) { nodeNames.contains($0) }
        // "" is an omitted optional input; every other input must already exist.
        for input in inputs where !input.isEmpty && !definedNames.contains(input) {
            throw TensorError(
                .argument,
                "export",
                "graph '\(graph.name)': input '\(input)' of \(opType) node '\(nodeName)' is not defined yet "
                    + "(graph inputs, initializers and earlier nodes' outputs are)")
        }
        var attributeNames = Set<String>()
        for attribute in attributes where !attributeNames.insert(attribute.name).inserted {
            throw TensorError(
                .argument,
                "export", "graph '\(graph.name)': \(opType) node '\(nodeName)' has two attributes named '\(attribute.name)'")
        }
        return nodeName
    }

    private mutating func appendNode(
        opType: String, nodeName: String, inputs: [String], outputs: [String], attributes: [AttributeProto], domain: String
    ) {
        nodeNames.insert(nodeName)
        graph.node.append(
            NodeProto(opType: opType, input: inputs, output: outputs, name: nodeName, domain: domain, attribute: attributes))
    }

    // MARK: - The model

    /// The model holding this graph, at ONNX IR version 8 and opset 17 unless told otherwise.
    public func model(
        producerName: String = "retort", producerVersion: String = "", metadata: [(key: String, value: String)] = [],
        opsetImport: [OperatorSetIdProto] = [OperatorSetIdProto(domain: "", version: ModelProto.opsetVersion)],
        irVersion: Int = ModelProto.irVersion
    ) -> ModelProto {
        ModelProto(
            graph: graph, irVersion: irVersion, opsetImport: opsetImport, producerName: producerName,
            producerVersion: producerVersion, metadataProps: metadata.map { StringStringEntryProto(key: $0.key, value: $0.value) }
        )
    }
}
