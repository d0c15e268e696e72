import RetortGraph
import RetortTensor

// What a language model needs beyond the op table: token ids, and the constants its layers make
// from the sequence length. A model whose input is read only as embedding ids takes int64 ids
// `[batch, sequence]`, as every ONNX language model does, and is traced at two lengths (see
// ONNXExport.swift). Its layers build two constants from the length T: `Positions` looks up the
// positions `offset..<offset+T`, and causal attention masks scores with a `[T, T]` matrix of ones
// where key ≤ query. Traced, both are plain numbers; comparing the two lengths' traces recognises
// them, and the graph computes them from the runtime length instead: the positions' rows are a
// Slice of the table, and the mask is `Range(0, T)` compared with itself as a column, made once
// and shared by every layer.

extension ONNXExport {
    /// A constant that follows the sequence length, as the language layers make them.
    enum SequenceConstant: Hashable {
        /// `start..<start + T`, whole numbers (a `Positions` layer's ids).
        case positions(start: Int)
        /// `[T, T]`, 1 where the key's position is at most the query's, else 0.
        case causalMask
    }

    /// What constant `i` is, when it differs between the two lengths' traces in one of the ways
    /// the language layers make; nil for any other constant (which the caller then judges).
    /// export_torch reads the same traces the same way.
    static func sequenceConstant(_ i: Int, _ traces: Traces) -> SequenceConstant? {
        guard let variation = traces.sequence else { return nil }
        let (a, c) = (traces.main.constants[i], variation.graph.constants[i])
        let (t, u) = variation.sizes
        // Made from the length alone: the same at every batch size.
        for other in traces.variations where other.axis == .batch {
            let b = other.graph.constants[i]
            guard b.shape == a.shape, b.scalars == a.scalars else { return nil }
        }
        if a.shape == [t], c.shape == [u], let first = a.scalars.first, first == first.rounded(), Swift.abs(first) < 1e6 {
            let counts = { (x: Tensor) in x.scalars.enumerated().allSatisfy { $0.element == first + Float($0.offset) } }
            return counts(a) && counts(c) ? .positions(start: Int(first)) : nil
        }
        if a.shape == [t, t], c.shape == [u, u] {
            let causal = { (x: Tensor, n: Int) in
                x.scalars.enumerated().allSatisfy { $0.element == ($0.offset % n <= $0.offset / n ? 1 : 0) }
            }
            return causal(a, t) && causal(c, u) ? .causalMask : nil
        }
        return nil
    }
}

extension ONNXExport.Translation {
    func sequenceConstant(_ i: Int) -> ONNXExport.SequenceConstant? { ONNXExport.sequenceConstant(i, traces) }

    /// Rows of the table picked by the ids: Gather along axis 0 with int64 ids. A `Positions`
    /// layer's ids `start..<start + T` are a Slice of the table instead, ending at the runtime length.
    mutating func embedding(_ node: Graph.Node) throws -> String {
        let table = try input(node, 0)
        if node.inputs.count == 2, case .constant(let i) = node.inputs[1], case .positions(let start)? = sequenceConstant(i) {
            let end = try start == 0 ? sequenceLength() : emit("Add", [sequenceLength(), int64s([start], "start")])
            return try emit("Slice", [table, int64s([start], "starts"), end, int64s([0], "axes")])
        }
        return try emit("Gather", [table, ids(node, 1)], [.int("axis", 0)])
    }

    /// A node's input as int64 indices: token ids as the graph takes them, anything else as `indices` makes it.
    private mutating func ids(_ node: Graph.Node, _ position: Int) throws -> String {
        if node.inputs.indices.contains(position), case .input(let i) = node.inputs[position], idsInputs.contains(i) {
            return try value(node.inputs[position])
        }
        return try indices(node, position)
    }

    /// `start..<start + T` as int64, from the runtime length.
    mutating func positions(from start: Int) throws -> String {
        if let known = shared[.positions(start: start)] { return known }
        let length = try emitShared("Squeeze", [sequenceLength(), sharedInt64s([0], dims: [1], "positions.axes")], "positions")
        let first = try sharedInt64s([start], dims: [], "positions.start")
        let end = try start == 0 ? length : emitShared("Add", [length, first], "positions")
        let made = try emitShared("Range", [first, end, sharedInt64s([1], dims: [], "positions.step")], "positions")
        shared[.positions(start: start)] = made
        return made
    }

    /// The causal mask `[T, T]` as a bool tensor: true where the key's position (the column) is
    /// at most the query's (the row), which is what Where keeps.
    mutating func causalMask() throws -> String {
        if let known = shared[.causalMask] { return known }
        let keys = try positions(from: 0)
        let queries = try emitShared("Unsqueeze", [keys, sharedInt64s([1], dims: [1], "causal_mask.axes")], "causal_mask")
        let made = try emitShared("LessOrEqual", [keys, queries], "causal_mask")
        shared[.causalMask] = made
        return made
    }
}
