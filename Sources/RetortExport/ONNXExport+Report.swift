extension ONNXExport {
    /// What an export wrote: enough to print one line and for tests to check the graph's outline.
    public struct Report: CustomStringConvertible {
        /// One graph input or output: its name and shape, `batch` where the batch size goes.
        public struct Value: Equatable {
            public let name: String
            public let shape: [TensorShapeProto.Dimension]
        }

        public let nodeCount: Int
        /// Each ONNX op type the graph uses, with how many nodes use it.
        public let opTypes: [(type: String, count: Int)]
        /// The size of the file.
        public let byteSize: Int
        public let inputs: [Value]
        public let outputs: [Value]
        /// What could not stay dynamic, and why (a language model whose sequence length is fixed).
        public let notes: [String]

        init(model: ModelProto, byteSize: Int, notes: [String] = []) {
            let graph = model.graph
            nodeCount = graph.node.count
            var counts: [String: Int] = [:]
            for node in graph.node { counts[node.opType, default: 0] += 1 }
            opTypes = counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            self.byteSize = byteSize
            func values(_ infos: [ValueInfoProto]) -> [Value] {
                infos.map { Value(name: $0.name, shape: $0.type.tensorType.shape?.dim ?? []) }
            }
            inputs = values(graph.input)
            outputs = values(graph.output)
            self.notes = notes
        }

        /// `x [batch, 1, 8, 8] → output [batch, 10]: 9 nodes (Conv ×2, Gemm, …), 12345 bytes`, then the notes.
        public var description: String {
            func list(_ values: [Value]) -> String {
                values.map { "\($0.name) [" + $0.shape.map(\.description).joined(separator: ", ") + "]" }
                    .joined(separator: ", ")
            }
            let ops = opTypes.map { $0.count == 1 ? $0.type : "\($0.type) ×\($0.count)" }.joined(separator: ", ")
            return "\(list(inputs)) → \(list(outputs)): \(nodeCount) nodes (\(ops)), \(byteSize) bytes"
                + notes.map { "; \($0)" }.joined()
        }
    }
}
