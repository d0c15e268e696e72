import RetortGraph
import RetortTensor

// Keeping the batch dimension dynamic. The model is traced at two batch sizes; a dimension that
// is the same in both is fixed, one that grows in proportion is a multiple of the batch, and
// anything else cannot be written as one ONNX graph. Shapes that ops carry as numbers (reshape,
// expand, slice) are rebuilt from these dimensions rather than copied from the trace.

extension ONNXExport {
    /// One dimension of a traced value: a fixed size, or `k` times the batch size.
    enum BatchDim: Equatable {
        case fixed(Int)
        case batch(Int)

        var isBatch: Bool {
            if case .batch = self { return true }
            return false
        }

        /// As a graph input or output declares it: `batch` (or `4*batch`), or the size.
        var onnx: TensorShapeProto.Dimension {
            switch self {
            case .fixed(let size): return .value(size)
            case .batch(let k): return .param(k == 1 ? "batch" : "\(k)*batch")
            }
        }
    }

    /// The dimensions of `source`, told apart by comparing its shapes in the two traces.
    static func dims(of source: Graph.Source, _ graph: Graph, _ other: Graph) throws -> [BatchDim] {
        let (a, b) = (graph.shape(of: source), other.shape(of: source))
        let (n, m) = tracedBatches
        guard a.count == b.count else {
            throw TensorError(
                "export",
                "\(graph.label(of: source)) is \(formatShape(a)) at batch \(n) and \(formatShape(b)) at batch \(m): "
                    + "its rank depends on the batch size")
        }
        var dims: [BatchDim] = []
        for (axis, (x, y)) in zip(a, b).enumerated() {
            if x == y {
                dims.append(.fixed(x))
            } else if x % n == 0, y == x / n * m {
                dims.append(.batch(x / n))
            } else {
                throw TensorError(
                    "export",
                    "axis \(axis) of \(graph.label(of: source)) is \(x) at batch \(n) and \(y) at batch \(m): neither a "
                        + "fixed size nor a multiple of the batch, so the ONNX graph cannot keep the batch dynamic")
            }
        }
        return dims
    }
}

extension ONNXExport.Translation {
    /// Ops whose attributes hold sizes, which differ with the batch; their translations read both traces.
    static let batchSizedAttributes: Set<String> = ["reshape", "expand", "slice"]

    func dims(of source: Graph.Source) throws -> [ONNXExport.BatchDim] {
        try ONNXExport.dims(of: source, graph, other)
    }

    /// A node's attributes must not depend on the batch size, unless its translation rebuilds them.
    func checkAttributesAgree(_ node: Graph.Node) throws {
        let theirs = other.nodes[node.id].op
        guard node.op != theirs, !Self.batchSizedAttributes.contains(node.op.name) else { return }
        throw cannotExpress(
            node,
            because: "its attributes depend on the batch size (\(node.op) at batch \(ONNXExport.tracedBatches.0), "
                + "\(theirs) at batch \(ONNXExport.tracedBatches.1))")
    }

    /// The runtime batch size as a one-element int64 tensor: the first dimension of the graph's input.
    mutating func batchSize() throws -> String {
        if let known = batchSizeValue { return known }
        let made = try emit("Shape", [value(.input(0))], [.int("start", 0), .int("end", 1)])
        batchSizeValue = made
        return made
    }

    /// A shape as a one-dimensional int64 value: an initializer when no dimension is the batch,
    /// else concatenated from literal parts and the runtime batch size.
    mutating func shapeValue(_ dims: [ONNXExport.BatchDim], _ hint: String) throws -> String {
        var parts: [String] = []
        var literal: [Int] = []
        for dim in dims {
            switch dim {
            case .fixed(let size):
                literal.append(size)
            case .batch(let k):
                if !literal.isEmpty { parts.append(try int64s(literal, hint)) }
                literal = []
                let batch = try batchSize()
                parts.append(k == 1 ? batch : try emit("Mul", [batch, int64s([k], "batch_multiple")]))
            }
        }
        if !literal.isEmpty || parts.isEmpty { parts.append(try int64s(literal, hint)) }
        return parts.count == 1 ? parts[0] : try emit("Concat", parts, [.int("axis", 0)])
    }
}
