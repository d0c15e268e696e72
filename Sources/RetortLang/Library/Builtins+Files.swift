import Foundation
import RetortNN
import RetortPlot
import RetortTensor

extension Builtins {
    static let fileBuiltins: [Builtin] = [
        Builtin(
            "csv",
            [
                .init("path", .string), .init("target", .optional(.oneOf([.string, .wholeNumber()])), Value.none),
                .init("header", .optional(.bool), Value.none), .init("classes", .optional(.strings), Value.none),
            ], category: "data",
            summary:
                "A dataset from a CSV file (gzip too): every column a feature except `target` (a name or 0-based index; default the last), whose values are class labels. Text labels are numbered in sorted order (`.class_names`); `classes:` gives the names and their order, e.g. a training file's, and refuses any other label. A header row is detected when every feature column holds a name there, or the label column does above a numeric label (pandas' `0,1,2,target`); a first row that is neither (numbers mixed with text, pandas' bare `0,1,2,3`, or its `0,1,2,3,species` over text labels) is refused until `header:` says. An empty or text label among numeric ones, hex numbers, nan and inf (missing values: fill or drop them first) and values past float32's range are refused at their line; so is a file that is not UTF-8. Lines end at \\n, \\r\\n or \\r; fields, labels included, are trimmed of spaces unless quoted; a quoted field may span lines (an error then names the line its row starts on).",
            example: "let test = csv(\"iris_test.csv\", classes: iris.class_names)"
        ) { call in
            let column: Dataset.Column
            switch call.value("target") {
            case .none: column = .last
            case .string(let name): column = .named(name)
            default: column = .index(try call.int("target"))
            }
            let header = try call.ifGiven("header", call.bool)
            let classes = try call.ifGiven("classes", call.strings)
            return .dataset(
                try Dataset.csv(path: try call.string("path"), target: column, header: header, classNames: classes))
        },
        Builtin(
            "idx", [.init("images", .string), .init("labels", .string)], category: "data",
            summary: "A dataset from MNIST-format IDX files (gzip too); pixels stay 0..255.",
            example: "let mnist = idx(\"train-images-idx3-ubyte.gz\", \"train-labels-idx1-ubyte.gz\")"
        ) { call in .dataset(try Dataset.idx(images: try call.string("images"), labels: try call.string("labels"))) },
        Builtin(
            "npy", [.init("path", .string)], category: "data",
            summary:
                "A tensor from a NumPy .npy file (floats, signed and unsigned integers, bools; either byte order, C or Fortran order). Retort's tensors are float32: integers above 2^24 (16,777,216) round to the nearest float32, as torch's .float() does, and a float64 beyond float32's range is refused.",
            example: "let w = npy(\"weights.npy\")"
        ) { call in .tensor(Variable(try NPY.read(path: try call.string("path")))) },
        Builtin(
            "save", [.init("what", .oneOf([.model, .plot, .record(.tensorValue)])), .init("path", .string)], category: "model",
            summary:
                "Writes a model's weights as safetensors with PyTorch's state_dict names (0.weight, 0.bias, ...), a record of tensors as safetensors under its field names, or a plot as .svg, .png (2× pixels) or .pdf by the path's extension; atomically. A model's or a record's path must end in .safetensors (export writes .onnx).",
            example: "save(student, \"student.safetensors\"); save(plot(h), \"loss.svg\")"
        ) { call in
            let path = try call.string("path")
            if case .plot = call.value("what") {
            } else if !path.lowercased().hasSuffix(".safetensors") {
                // A safetensors file under another name is what an ONNX runtime, say, would reject.
                let hint =
                    path.lowercased().hasSuffix(".onnx")
                    ? "; export(model, \"\(path)\") writes ONNX"
                    : path.lowercased().hasSuffix(".pt") || path.lowercased().hasSuffix(".pth")
                        ? "; PyTorch reads safetensors with safetensors.torch.load_file" : ""
                throw call.error(
                    "a model or a record is written as safetensors: the path must end in .safetensors, got \"\(path)\"\(hint)",
                    at: "path")
            }
            switch call.value("what") {
            case .model(let m):
                try SafeTensors.save(
                    m.network, to: path, metadata: Quantizer.isQuantized(m.network) ? Quantizer.int8Metadata : nil)
            case .record(let r):
                // A record of tensors, as safetensors' save_file(dict): inputs and outputs to check elsewhere.
                let tensors = r.fields.compactMap { field -> (name: String, tensor: Tensor)? in
                    guard case .tensor(let t) = field.value else { return nil }
                    return (field.name, t.value)
                }
                try SafeTensors.write(tensors, to: path)
            case .plot(let figure):
                do {
                    try figure.save(to: path)
                } catch {
                    throw call.error("\(error)", kind: .runtime, at: "path")
                }
            default: throw call.fail("what")
            }
            return .none
        },
        Builtin(
            "load",
            [
                .init("path", .string), .init("into", .optional(.model), Value.none),
                .init("names", .optional(.oneOf([.record(.string), .function(of: "a name")])), Value.none),
                .init("like", .optional(.model), Value.none),
            ],
            category: "model",
            summary:
                "Reads safetensors weights into a model of the same architecture (a PyTorch state_dict file works), strictly: nothing changes if any name or shape disagrees. names: maps the file's names to the model's, as a record of leading parts ({fc1: \"0\", fc2: \"2\"}) or a function of the whole name returning the new name, or none to leave a tensor out. like: a model instead of into: returns a new model of that architecture holding the file (the given model is unchanged); this is how an int8 file saved from quantize or convert is read back: load(path, like: mlp([64, 32, 10])). A pruned model's file needs a model of its smaller sizes. Without into or like, the file's tensors as a record.",
            example: "load(\"torch_mlp.safetensors\", into: student, names: {fc1: \"0\", fc2: \"2\"})"
        ) { call in
            let path = try call.string("path")
            if call.isGiven("like") {
                guard !call.isGiven("into") else { throw call.error("give into: or like:, not both", at: "like") }
                let shape = try call.model("like")
                let file = try? SafeTensors.read(path: path)
                let int8 = file?.metadata?["retort_format"] == "int8"
                // A file quantised per tensor has one weight scale per layer.
                let perTensor = file?.tensors.contains { $0.name.hasSuffix("weight_scale") && $0.tensor.count == 1 } ?? false
                let network: Sequential
                do {
                    network =
                        int8 ? try Quantizer.int8Skeleton(shape.network, perChannel: !perTensor) : shape.network.copied()
                } catch let refusal as Quantizer.Refusal {
                    throw call.error("\(path) holds an int8 model, but \(refusal)", at: "like")
                }
                try SafeTensors.load(from: path, into: network, rename: try renaming(call))
                return .model(Model(network))
            }
            guard call.isGiven("into") else {
                guard !call.isGiven("names") else { throw call.error("names: needs a model to load into (into:)", at: "names") }
                let file = try SafeTensors.read(path: path)
                return .record(Record(file.tensors.map { ($0.name, .tensor(Variable($0.tensor))) }))
            }
            let model = try call.model("into")
            let rename = try renaming(call)
            if (try? SafeTensors.read(path: path))?.metadata?["retort_format"] == "int8", !Quantizer.isQuantized(model.network) {
                throw call.error(
                    "\(path) holds an int8 model; read it as a new model with load(path, like: a float model of the same architecture)",
                    at: "into")
            }
            // A training checkpoint also holds the optimizer's state and the loss's own parameters
            // (an adapter), which the model does not take.
            let checkpoint = (try? SafeTensors.read(path: path))?.metadata?["retort_checkpoint"] != nil
            try SafeTensors.load(from: path, into: model.network) { name in
                checkpoint && (name.hasPrefix("optimizer.") || name.hasPrefix("loss.")) ? nil : try rename(name)
            }
            return .model(model)
        },
    ]

    /// The `names:` argument of load as a function from a file's name to the model's.
    static func renaming(_ call: BuiltinCall) throws -> (String) throws -> String? {
        switch call.value("names") {
        case .none:
            return { $0 }
        case .record(let r):
            var prefixes: [(from: String, to: String)] = []
            for case (let from, .string(let to)) in r.fields { prefixes.append((from, to)) }
            // The longest matching leading part wins: {layer1: "0", layer1.conv: "1"} is unambiguous.
            return { name in
                let match = prefixes.filter { name == $0.from || name.hasPrefix($0.from + ".") }
                    .max { $0.from.count < $1.from.count }
                guard let match else { return name }
                return match.to + name.dropFirst(match.from.count)
            }
        case .function:
            let function = call.value("names")
            return { name in
                let result = try call.interpreter.callFunction(function, [.string(name)], at: call.range(of: "names"))
                switch result {
                case .string(let s): return s
                case .none: return nil
                default:
                    throw call.error(
                        "the names function must return a string or none, got \(describeShort(result)) for '\(name)'",
                        kind: .type, at: "names")
                }
            }
        default:
            throw call.fail("names")
        }
    }
}
