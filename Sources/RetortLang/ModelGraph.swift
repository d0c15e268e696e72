import RetortGraph
import RetortNN
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
