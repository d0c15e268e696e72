import RetortGraph
import RetortTensor

// Keeping the batch and the sequence length dynamic. The model is traced at two batch sizes and,
// when its input is token ids `[batch, sequence]`, at two sequence lengths as well. Comparing the
// traces tells each dimension apart: one that is the same in all of them is fixed, one that grows
// in proportion to the batch, the length or both is `k·batch`, `k·sequence` or `k·batch·sequence`,
// and anything else cannot be written as one ONNX graph. Shapes that ops carry as numbers
// (reshape, expand, slice) are rebuilt from these dimensions rather than copied from the trace.

extension ONNXExport {
    /// A size that is left to the runtime: the batch size, or the sequence length of token ids.
    enum Axis {
        case batch
        case sequence
    }

    /// The model traced again with one size changed; node for node the same as the main trace.
    struct Variation {
        let axis: Axis
        let graph: Graph
        /// The size that changed, in the main trace and in this one.
        let sizes: (main: Int, other: Int)

        /// `batch 2`, `length 8`: where a shape or attribute was seen.
        func at(main: Bool) -> String {
            (axis == .batch ? "batch " : "length ") + String(main ? sizes.main : sizes.other)
        }

        /// What changed, for messages: `batch size`, `sequence length`.
        var what: String { axis == .batch ? "batch size" : "sequence length" }
    }

    /// The traces an export reads: the one it translates, and the variations that tell which
    /// dimensions follow the batch and the sequence length.
    struct Traces {
        /// At the first traced batch size and the example's length: the graph that is translated.
        let main: Graph
        /// The second batch size, then (for token ids) the other length.
        let variations: [Variation]

        var sequence: Variation? { variations.first { $0.axis == .sequence } }

        /// The same traces with the sequence length fixed at the example's.
        var fixingSequence: Traces { Traces(main: main, variations: variations.filter { $0.axis != .sequence }) }

        /// The first variation that runs other operations than the main trace, node for node (a
        /// model whose forward depends on the batch size or the length): one graph cannot stand for both.
        var differing: Variation? {
            variations.first { variation in
                let other = variation.graph
                return main.nodes.count != other.nodes.count || main.constants.count != other.constants.count
                    || !zip(main.nodes, other.nodes).allSatisfy { $0.op.name == $1.op.name && $0.isGroup == $1.isGroup }
            }
        }

        /// Where `variation` first runs another operation than the main trace, for the refusal:
        /// `node 3 is slice at batch 2 and concat at batch 3`, or which trace stops first.
        func firstDifference(_ variation: Variation) -> String {
            let other = variation.graph
            func describe(_ node: Graph.Node) -> String { node.isGroup ? "\(node.op.name) (a layer)" : node.op.name }
            for (i, (a, b)) in zip(main.nodes, other.nodes).enumerated() where a.op.name != b.op.name || a.isGroup != b.isGroup {
                return
                    "operation \(i + 1) is \(describe(a)) at \(variation.at(main: true)) and \(describe(b)) at "
                    + variation.at(main: false)
            }
            if main.nodes.count != other.nodes.count {
                let (longer, shorter) = main.nodes.count > other.nodes.count ? (main, other) : (other, main)
                let at = variation.at(main: main.nodes.count > other.nodes.count)
                return
                    "at \(at) it goes on past operation \(shorter.nodes.count) with "
                    + describe(longer.nodes[shorter.nodes.count])
            }
            return "the operations are the same but use \(main.constants.count) and \(other.constants.count) constants"
        }
    }

    /// One dimension of a traced value: a fixed size, or `factor` times the batch size, the
    /// sequence length or their product.
    enum Dim: Equatable {
        case fixed(Int)
        case dynamic(factor: Int, batch: Bool, sequence: Bool)

        var isDynamic: Bool {
            if case .dynamic = self { return true }
            return false
        }

        /// As Python writes it in model.py: `batch`, `4 * length`, `batch * length`, or the size.
        var python: String {
            switch self {
            case .fixed(let size):
                return String(size)
            case .dynamic(let factor, let batch, let sequence):
                let names = (batch ? ["batch"] : []) + (sequence ? ["length"] : [])
                return ((factor == 1 ? [] : [String(factor)]) + names).joined(separator: " * ")
            }
        }

        /// As a graph input or output declares it: `batch`, `sequence`, `4*batch`, `batch*sequence`, or the size.
        var onnx: TensorShapeProto.Dimension {
            switch self {
            case .fixed(let size):
                return .value(size)
            case .dynamic(let factor, let batch, let sequence):
                let names = (batch ? ["batch"] : []) + (sequence ? ["sequence"] : [])
                return .param(((factor == 1 ? [] : [String(factor)]) + names).joined(separator: "*"))
            }
        }
    }

    /// The dimensions of `source`, told apart by comparing its shapes in the traces.
    /// export_torch (`op`) tells them apart the same way.
    static func dims(of source: Graph.Source, _ traces: Traces, op: String = "export") throws -> [Dim] {
        let graph = traces.main
        let shape = graph.shape(of: source)
        var dims = shape.map { (factor: $0, batch: false, sequence: false) }
        for variation in traces.variations {
            let theirs = variation.graph.shape(of: source)
            let (main, other) = variation.sizes
            guard theirs.count == shape.count else {
                throw TensorError(
                    .shape, op,
                    "\(graph.label(of: source)) is \(formatShape(shape)) at \(variation.at(main: true)) and "
                        + "\(formatShape(theirs)) at \(variation.at(main: false)): its rank depends on the \(variation.what)")
            }
            for (axis, (x, y)) in zip(shape, theirs).enumerated() where x != y {
                guard dims[axis].factor % main == 0, y == x / main * other else {
                    throw TensorError(
                        .shape, op,
                        "axis \(axis) of \(graph.label(of: source)) is \(x) at \(variation.at(main: true)) and \(y) at "
                            + "\(variation.at(main: false)): neither a fixed size nor a multiple of the \(variation.what), "
                            + "so \(op == "export" ? "the ONNX graph" : "model.py") cannot keep the \(variation.axis == .batch ? "batch" : "sequence length") dynamic"
                    )
                }
                dims[axis].factor /= main
                if variation.axis == .batch { dims[axis].batch = true } else { dims[axis].sequence = true }
            }
        }
        return zip(shape, dims).map { size, dim in
            dim.batch || dim.sequence ? .dynamic(factor: dim.factor, batch: dim.batch, sequence: dim.sequence) : .fixed(size)
        }
    }

    /// Whether graph input `i` is token ids: read, and only read, as the ids of embeddings (the
    /// members of a group are what read it, not the group).
    static func readsTokenIDs(_ graph: Graph, input i: Int) -> Bool {
        let uses = graph.nodes.filter { !$0.isGroup }.flatMap { node in
            node.inputs.indices.filter { node.inputs[$0] == .input(i) }.map { (op: node.op.name, position: $0) }
        }
        return !uses.isEmpty && uses.allSatisfy { $0.op == "embedding" && $0.position == 1 }
    }
}

extension ONNXExport.Translation {
    /// Ops whose attributes hold sizes, which differ with the batch and the length; their
    /// translations read every trace.
    static let sizedAttributes: Set<String> = ["reshape", "expand", "slice"]

    func dims(of source: Graph.Source) throws -> [ONNXExport.Dim] {
        try ONNXExport.dims(of: source, traces)
    }

    /// A node's attributes must not depend on the batch size or the length, unless its translation rebuilds them.
    func checkAttributesAgree(_ node: Graph.Node) throws {
        guard !Self.sizedAttributes.contains(node.op.name) else { return }
        for variation in traces.variations {
            let theirs = variation.graph.nodes[node.id].op
            guard node.op != theirs else { continue }
            throw cannotExpress(
                node,
                because: "its attributes depend on the \(variation.what) (\(node.op) at \(variation.at(main: true)), "
                    + "\(theirs) at \(variation.at(main: false)))")
        }
    }

    /// The runtime batch size as a one-element int64 tensor: the first dimension of the graph's input.
    mutating func batchSize() throws -> String {
        if let known = runtimeSizes[.batch] { return known }
        let made = try builder.addNode(
            opType: "Shape", inputs: [value(.input(0))], attributes: [.int("start", 0), .int("end", 1)],
            name: "batch_size/Shape")
        runtimeSizes[.batch] = made
        return made
    }

    /// The runtime sequence length as a one-element int64 tensor: the second dimension of the ids.
    mutating func sequenceLength() throws -> String {
        if let known = runtimeSizes[.sequence] { return known }
        let made = try builder.addNode(
            opType: "Shape", inputs: [value(.input(0))], attributes: [.int("start", 1), .int("end", 2)],
            name: "sequence_length/Shape")
        runtimeSizes[.sequence] = made
        return made
    }

    /// A shape as a one-dimensional int64 value: an initializer when every dimension is fixed,
    /// else concatenated from literal parts and products of the runtime sizes.
    mutating func shapeValue(_ dims: [ONNXExport.Dim], _ hint: String) throws -> String {
        var parts: [String] = []
        var literal: [Int] = []
        for dim in dims {
            switch dim {
            case .fixed(let size):
                literal.append(size)
            case .dynamic(let factor, let batch, let sequence):
                if !literal.isEmpty { parts.append(try int64s(literal, hint)) }
                literal = []
                let runtime =
                    try batch && sequence
                    ? emit("Mul", [batchSize(), sequenceLength()]) : batch ? batchSize() : sequenceLength()
                parts.append(factor == 1 ? runtime : try emit("Mul", [runtime, int64s([factor], "factor")]))
            }
        }
        if !literal.isEmpty || parts.isEmpty { parts.append(try int64s(literal, hint)) }
        return parts.count == 1 ? parts[0] : try emit("Concat", parts, [.int("axis", 0)])
    }
}
