import RetortTensor

/// A traced forward pass: its inputs, its parameters by state-dict name, the primitives it ran
/// (op, attributes, inputs, shape) and its outputs. `graph(m)` shows one as a table; exporters and
/// channel pruning walk it.
///
/// Nodes are in the order they ran, so every node's inputs come before it. A composite that marked
/// itself as a group (layer norm, batch norm, attention) is a node too, placed before the
/// primitives inside it; they name it as their `group`, and whoever reads the graph either takes
/// the group as one node or walks into it.
public struct Graph {
    /// Where a node's input comes from.
    public enum Source: Hashable, Sendable {
        case input(Int)
        case parameter(Int)
        case constant(Int)
        case node(Int)
    }

    public struct Input {
        public let name: String
        public let shape: [Int]
    }

    public struct Parameter {
        /// The state-dict name: `0.weight`, `2.lin.bias`.
        public let name: String
        public let variable: Variable
        public var shape: [Int] { variable.shape }
    }

    public struct Node {
        public let id: Int
        /// A name unique in the graph, as `torch.fx` gives: `linear`, `linear_1`, `relu`.
        public let name: String
        public let op: Op
        public let inputs: [Source]
        public internal(set) var shape: [Int]
        /// The innermost group this node is part of, nil at the top level.
        public let group: Int?
        /// Whether this node is a group, whose primitives follow it.
        public let isGroup: Bool
        /// For a group: the source of its output among the primitives inside (or one of its inputs).
        public internal(set) var groupOutput: Source?
        /// The layer that computed it, where the values alone do not say (an int8 layer, a batch norm).
        public let owner: AnyObject?
    }

    public internal(set) var inputs: [Input] = []
    public internal(set) var parameters: [Parameter] = []
    /// Values the pass used that are neither inputs nor parameters: numbers in expressions, masks,
    /// a batch norm's running statistics.
    public internal(set) var constants: [Tensor] = []
    /// A constant's name where it is a layer's buffer (`1.running_mean`), else nil.
    public internal(set) var constantNames: [String?] = []
    public internal(set) var nodes: [Node] = []
    public internal(set) var outputs: [Source] = []
    /// Where the pass read values that depend on the inputs out as numbers (`item()`, a condition,
    /// a loop over a tensor's values): what it computed from them is in the graph as constants, or
    /// as the branch the traced values took.
    public internal(set) var readOuts: [String] = []

    /// The nodes not inside any group, in order: what the table shows.
    public var topLevel: [Node] { nodes.filter { $0.group == nil } }

    /// The nodes directly inside group `id`, in order.
    public func members(of id: Int) -> [Node] { nodes.filter { $0.group == id } }

    /// The shape of the value a source stands for.
    public func shape(of source: Source) -> [Int] {
        switch source {
        case .input(let i): return inputs[i].shape
        case .parameter(let i): return parameters[i].shape
        case .constant(let i): return constants[i].shape
        case .node(let i): return nodes[i].shape
        }
    }

    /// How a source is written in a table: a node's or input's name, a parameter's state-dict name,
    /// a one-element constant's value, or `const [2, 3]`.
    public func label(of source: Source) -> String {
        switch source {
        case .input(let i): return inputs[i].name
        case .parameter(let i): return parameters[i].name
        case .constant(let i):
            if let name = constantNames[i] { return name }
            let c = constants[i]
            if let v = c.scalar { return v == v.rounded() && Swift.abs(v) < 1e7 ? String(Int(v)) : "\(v)" }
            return "const \(formatShape(c.shape))"
        case .node(let i): return nodes[i].name
        }
    }

    /// Every use of each source by a top-level or inner node, for walks that follow values forward.
    public func consumers() -> [Source: [(node: Int, position: Int)]] {
        var uses: [Source: [(node: Int, position: Int)]] = [:]
        for node in nodes {
            for (position, source) in node.inputs.enumerated() { uses[source, default: []].append((node.id, position)) }
        }
        return uses
    }
}
