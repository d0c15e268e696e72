import RetortTensor

extension Graph {
    /// The columns of `rows`, as `torch.fx`'s `print_tabular` lays a graph out.
    public static let tableColumns = ["node", "op", "inputs", "shape", "parameters"]

    /// One row per input, per top-level node (a group is one row) and for the output: the node's
    /// name, its op with attributes, the values it reads (parameters in their own column), the
    /// shape it makes and the parameters it reads by state-dict name.
    public var rows: [[String]] {
        var rows = inputs.map { [$0.name, "input", "", formatShape($0.shape), ""] }
        for node in topLevel {
            let data = node.inputs.filter { if case .parameter = $0 { return false }; return true }
            let parameters = node.inputs.filter { if case .parameter = $0 { return true }; return false }
                + (node.isGroup ? groupParameters(node.id) : [])
            rows.append([
                node.name, node.op.description, data.map(label).joined(separator: ", "), formatShape(node.shape),
                unique(parameters).map(label).joined(separator: ", "),
            ])
        }
        for (i, output) in outputs.enumerated() {
            rows.append([outputs.count == 1 ? "output" : "output_\(i)", "output", label(of: output), formatShape(shape(of: output)), ""])
        }
        return rows
    }

    /// Parameters read inside a group but not passed to it (an attention's projections).
    private func groupParameters(_ id: Int) -> [Source] {
        members(of: id).flatMap { node in
            node.inputs.filter { if case .parameter = $0 { return true }; return false } + (node.isGroup ? groupParameters(node.id) : [])
        }
    }

    private func unique(_ sources: [Source]) -> [Source] {
        var seen = Set<Source>()
        return sources.filter { seen.insert($0).inserted }
    }
}
