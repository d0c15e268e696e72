import RetortGraph
import RetortNN
import RetortTensor

/// The model graph: a traced forward pass as a table, and drawn.
extension Builtins {
    static let graphBuiltins: [Builtin] = [
        Builtin(
            "graph", [.init("model", .model), .init("input", .optional(.oneOf([.tensorValue, .dataset])), Value.none)],
            category: "model",
            summary:
                "The model's forward pass traced on `input` (a tensor, a dataset's first example, or a shape such as [1, 1, 28, 28]; default: a batch of one zero example in the shape the model last ran on, or that its first linear layer takes) in eval mode without gradients: every primitive with its op, attributes, inputs, output shape and the parameters it reads by state-dict name, as torch.fx's print_tabular shows a graph. Composites such as layer_norm and batch_norm are one row. plot(g) draws it.",
            example: "graph(student, [1, 64])"
        ) { call in
            let model = try call.model("model")
            let input = try graphInput(call, model)
            let traced = try model.network.trace(input)
            return .graph(ModelGraph(graph: traced, modelName: model.name ?? "the model"))
        }
    ]

    /// The example input a trace runs on.
    static func graphInput(_ call: BuiltinCall, _ model: Model) throws -> Tensor {
        switch call.value("input") {
        case .none, .dataset:
            return try exampleInput(call, model, from: "input", purpose: "trace it")
        case .tensor(let t) where t.value.rank == 1 && !t.requiresGrad:
            // A literal list of whole numbers is a shape.
            let sizes = t.value.scalars
            guard sizes.allSatisfy({ $0 >= 1 && $0 == $0.rounded() && $0 < 1e9 }) else { return t.value }
            let shape = sizes.map { Int($0) }
            try budget(call, shape, at: "input")
            return Tensor.zeros(shape)
        case .tensor(let t):
            return t.value
        default:
            throw call.fail("input")
        }
    }
}
