import RetortGraph
import RetortNN
import RetortPlot
import RetortTensor

/// `graph(m)`: a model's forward pass traced on one input, with the model's name for titles.
public struct ModelGraph {
    public let graph: Graph
    public let modelName: String

    /// The graph laid out as `torch.fx`'s `print_tabular` does: one row per node.
    var table: Table {
        let input = graph.inputs.map { formatShape($0.shape) }.joined(separator: ", ")
        return Table(
            columns: Graph.tableColumns, rows: graph.rows,
            title: "graph of \(modelName): \(graph.topLevel.count) nodes, traced in eval mode on an input \(input)")
    }
}

extension ModelGraph {
    /// The graph drawn as boxes and arrows: the inputs, every top-level node (a group is one box)
    /// and the outputs, each box under the nodes it reads, with its shape.
    var figure: Figure {
        var nodes: [Diagram.Node] = graph.inputs.map { Diagram.Node(label: $0.name, detail: formatShape($0.shape), colour: 2) }
        var index: [Graph.Source: Int] = [:]
        for i in graph.inputs.indices { index[.input(i)] = i }
        var edges: [(from: Int, to: Int)] = []
        for node in graph.topLevel {
            let position = nodes.count
            // The layer whose parameters a node reads: their names' common leading parts (`2.lin`,
            // `transformer.h.0.attn` for c_attn's and c_proj's; never a part cut short, `attn.c_`).
            let names = node.inputs.compactMap { source -> [Substring]? in
                if case .parameter(let i) = source { return graph.parameters[i].name.split(separator: ".") }
                return nil
            }
            let owner = names.first.map { first in
                names.dropFirst().reduce(Array(first.dropLast())) { prefix, name in
                    Array(zip(prefix, name).prefix { $0 == $1 }.map(\.0))
                }.joined(separator: ".")
            }
            let kind = node.op.name
            let colour = kind.contains("linear") || kind.contains("conv") ? 0 : node.isGroup ? 3 : kind == "add" ? 1 : 4
            nodes.append(
                Diagram.Node(
                    label: node.name == kind ? kind : "\(node.name): \(kind)",
                    detail: formatShape(node.shape) + (owner.map { $0.isEmpty ? "" : "  · layer \($0)" } ?? ""),
                    colour: colour))
            for source in node.inputs { if let from = index[source] { edges.append((from, position)) } }
            index[.node(node.id)] = position
        }
        for (i, output) in graph.outputs.enumerated() {
            nodes.append(
                Diagram.Node(
                    label: graph.outputs.count == 1 ? "output" : "output_\(i)", detail: formatShape(graph.shape(of: output)),
                    colour: 2))
            if let from = index[output] { edges.append((from, nodes.count - 1)) }
        }
        return Figure(diagram: Diagram(nodes: nodes, edges: edges), title: "graph of \(modelName)")
    }
}
