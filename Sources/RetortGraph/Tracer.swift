import RetortTensor

/// Builds a `Graph` from what the tape reports while a forward pass runs.
///
/// Values are told apart by identity: the tracer keeps every variable it has seen alive until it
/// is done, so no identity is reused for another value in the meantime.
public final class Tracer: TapeRecorder {
    private var graph = Graph()
    private var sources: [ObjectIdentifier: Graph.Source] = [:]
    private var seen: [Variable] = []
    private var openGroups: [Int] = []
    private var names: [String: Int] = [:]
    /// The values that depend on the graph's inputs (by identity).
    private var fromInputs: Set<ObjectIdentifier> = []

    private let buffers: [(name: String, tensor: Tensor)]

    /// A tracer that names `parameters` by their state-dict names wherever the pass reads them,
    /// and constants that are views of `buffers` (running statistics) by theirs.
    public init(parameters: [(name: String, variable: Variable)], buffers: [(name: String, tensor: Tensor)] = []) {
        self.buffers = buffers
        for (name, variable) in parameters where sources[ObjectIdentifier(variable)] == nil {
            sources[ObjectIdentifier(variable)] = .parameter(graph.parameters.count)
            graph.parameters.append(Graph.Parameter(name: name, variable: variable))
            seen.append(variable)
        }
    }

    /// Declares a graph input; the pass should start from `variable`.
    public func input(_ variable: Variable, name: String) {
        sources[ObjectIdentifier(variable)] = .input(graph.inputs.count)
        graph.inputs.append(Graph.Input(name: name, shape: variable.shape))
        seen.append(variable)
        fromInputs.insert(ObjectIdentifier(variable))
    }

    /// The finished graph with `outputs` as its results.
    public func finish(outputs: [Variable]) -> Graph {
        var result = graph
        result.outputs = outputs.map(source)
        // Parameters the pass never read are not part of the graph.
        return result
    }

    public func record(_ op: Op, inputs: [Variable], output: Variable, owner: AnyObject?) {
        let id = graph.nodes.count
        graph.nodes.append(
            Graph.Node(
                id: id, name: uniqueName(op.name), op: op, inputs: inputs.map(source), shape: output.shape,
                group: openGroups.last, isGroup: false, groupOutput: nil, owner: owner))
        sources[ObjectIdentifier(output)] = .node(id)
        seen.append(output)
        if inputs.contains(where: { fromInputs.contains(ObjectIdentifier($0)) }) { fromInputs.insert(ObjectIdentifier(output)) }
    }

    public func readOut(_ variable: Variable, by what: String) {
        if fromInputs.contains(ObjectIdentifier(variable)) { graph.readOuts.append(what) }
    }

    public func beginGroup(_ op: Op, inputs: [Variable], owner: AnyObject?) {
        let id = graph.nodes.count
        graph.nodes.append(
            Graph.Node(
                id: id, name: uniqueName(op.name), op: op, inputs: inputs.map(source), shape: [], group: openGroups.last,
                isGroup: true, groupOutput: nil, owner: owner))
        openGroups.append(id)
    }

    public func endGroup(output: Variable) {
        guard let id = openGroups.popLast() else { return }
        graph.nodes[id].groupOutput = source(output)
        graph.nodes[id].shape = output.shape
        sources[ObjectIdentifier(output)] = .node(id)
        seen.append(output)
    }

    /// Where a value came from; one never seen before is a constant, kept by value. A buffer read
    /// again (a batch norm a function layer calls twice) is the same constant.
    private func source(_ variable: Variable) -> Graph.Source {
        if let known = sources[ObjectIdentifier(variable)] { return known }
        let name = buffers.first { $0.tensor.sharesStorage(with: variable.value) }?.name
        if let name, let index = graph.constantNames.firstIndex(of: name),
            graph.constants[index].shape == variable.shape
        {
            sources[ObjectIdentifier(variable)] = .constant(index)
            seen.append(variable)
            return .constant(index)
        }
        let made = Graph.Source.constant(graph.constants.count)
        graph.constants.append(variable.value)
        graph.constantNames.append(name)
        sources[ObjectIdentifier(variable)] = made
        seen.append(variable)
        return made
    }

    private func uniqueName(_ base: String) -> String {
        let n = names[base, default: 0]
        names[base] = n + 1
        return n == 0 ? base : "\(base)_\(n)"
    }
}

extension Graph {
    /// Traces `body` run on `inputs`: every primitive it computes, with `parameters` named.
    ///
    /// Gradients are off while it runs (a trace records values, not a backward pass).
    public static func trace(
        inputs: [(name: String, value: Tensor)], parameters: [(name: String, variable: Variable)],
        buffers: [(name: String, tensor: Tensor)] = [], _ body: ([Variable]) throws -> [Variable]
    ) throws -> Graph {
        let tracer = Tracer(parameters: parameters, buffers: buffers)
        let variables = inputs.map { Variable($0.value) }
        for (variable, input) in zip(variables, inputs) { tracer.input(variable, name: input.name) }
        let outputs = try Tape.recording(to: tracer) { try GradMode.withoutGradients { try body(variables) } }
        return tracer.finish(outputs: outputs)
    }
}
