import Foundation
import RetortNN
import RetortPlot
import RetortTensor

extension Builtins {
    static let fileBuiltins: [Builtin] = [
        Builtin(
            "csv", [.init("path"), .init("target", Value.none), .init("header", Value.none)], category: "data",
            summary:
                "A dataset from a CSV file (gzip too): every column a feature except `target` (a name or 0-based index; default the last), whose values are class labels.",
            example: "let iris = csv(\"iris.csv\", target: \"species\")"
        ) { call in
            let column: Dataset.Column
            switch call.value("target") {
            case .none: column = .last
            case .string(let name): column = .named(name)
            case .number: column = .index(try call.int("target"))
            default: throw call.fail("target", "a column name or index")
            }
            let header: Bool? = call.isGiven("header") ? try call.bool("header") : nil
            return .dataset(try Dataset.csv(path: try call.string("path"), target: column, header: header))
        },
        Builtin(
            "idx", [.init("images"), .init("labels")], category: "data",
            summary: "A dataset from MNIST-format IDX files (gzip too); pixels stay 0..255.",
            example: "let mnist = idx(\"train-images-idx3-ubyte.gz\", \"train-labels-idx1-ubyte.gz\")"
        ) { call in .dataset(try Dataset.idx(images: try call.string("images"), labels: try call.string("labels"))) },
        Builtin(
            "npy", [.init("path")], category: "data", summary: "A tensor from a NumPy .npy file.",
            example: "let w = npy(\"weights.npy\")"
        ) { call in .tensor(Variable(try NPY.read(path: try call.string("path")))) },
        Builtin(
            "save", [.init("what"), .init("path")], category: "model",
            summary:
                "Writes a model's weights as safetensors with PyTorch's state_dict names (0.weight, 0.bias, ...), or a plot as .svg, .png (2× pixels) or .pdf by the path's extension; atomically.",
            example: "save(student, \"student.safetensors\"); save(plot(h), \"loss.svg\")"
        ) { call in
            let path = try call.string("path")
            switch call.value("what") {
            case .model(let m): try SafeTensors.save(m.network, to: path)
            case .plot(let figure):
                do {
                    try figure.save(to: path)
                } catch {
                    throw call.error("\(error)", kind: .runtime, at: "path")
                }
            default: throw call.fail("what", "a model or a plot")
            }
            return .none
        },
        Builtin(
            "load", [.init("path"), .init("into")], category: "model",
            summary:
                "Reads safetensors weights into a model of the same architecture (a PyTorch state_dict file works); nothing changes if any name or shape disagrees.",
            example: "load(\"teacher.safetensors\", into: teacher)"
        ) { call in
            let model = try call.model("into")
            try SafeTensors.load(from: try call.string("path"), into: model.network)
            return .model(model)
        },
    ]
}
