import RetortGraph
import RetortNN
import RetortTensor

/// Exports a Retort model to an ONNX file (IR 8, opset 17) from its traced forward pass, so the
/// model runs in onnxruntime and every tool that reads ONNX.
///
/// The model is traced at batch sizes 2 and 3: what differs between the two traces is what
/// depends on the batch, so reshapes, slices and expands keep the batch dimension dynamic instead
/// of baking in the size they were traced at (a batch of 1 would hide which axes are the batch).
/// A language model, whose input is read only as embedding ids, takes int64 ids `[batch, sequence]`
/// and is traced at a second length too, so the sequence length stays dynamic the same way (the
/// positions and the causal mask are made from it: ONNXExport+Language.swift); a model that runs
/// at one length only (an MLP over a fixed context) keeps it fixed, and the report says why.
/// Each top-level node becomes one or a few ONNX nodes (the table is `Translation.translateOp`);
/// an int8 model is written in QDQ form. Nothing is written unless the whole model translates.
public enum ONNXExport {
    /// Said of a constant that varies between traces: what usually made it, since the constant's
    /// label names no op (argmax's indices were blamed on "the batch size" alone).
    static let untraced =
        "; a value computed from the input outside tensor ops (argmax's indices, item(), a tensor made from x.shape) enters the trace as a constant"

    /// The batch sizes the model is traced at; what differs between the two depends on the batch.
    static let tracedBatches = (2, 3)

    /// Exports `model` to `path` (written atomically: on failure no file, or the old one, is left).
    ///
    /// - Parameters:
    ///   - example: an input with the batch at axis 0, of any batch size; its rows are repeated to
    ///     make the traced batches. For a language model, ids `[N, T]` (whole numbers as Float),
    ///     T at most the model's block size; it is traced at T and T − 1 (T + 1 when T < 3).
    ///   - name: the ONNX graph's name.
    @discardableResult
    public static func export(_ model: Layer, example: Tensor, to path: String, name: String) throws -> Report {
        let made = try translated(model, example: example, name: name)
        let bytes = try made.model.write(to: path)
        return Report(model: made.model, byteSize: bytes, notes: made.notes)
    }

    /// The ONNX model `export` would write, without writing it.
    public static func model(_ model: Layer, example: Tensor, name: String) throws -> ModelProto {
        try translated(model, example: example, name: name).model
    }

    /// The ONNX model, and notes on what could not stay dynamic.
    private static func translated(_ model: Layer, example: Tensor, name: String) throws -> (
        model: ModelProto, notes: [String]
    ) {
        // Tracing would also feed the example to a calibrating model's observers.
        guard !Quantizer.isPrepared(model) else {
            throw TensorError(
                .argument, "export",
                "the model is prepared for quantisation (qat or calibrating); export the float model, or the int8 model "
                    + "convert(model) makes of it")
        }
        var (traces, notes) = try trace(model, example: example)
        let names = layerNames(model)
        func translate(_ traces: Traces) throws -> ModelProto {
            var translation = try Translation(traces: traces, name: name, layerNames: names)
            try translation.translateAll()
            return translation.builder.model(metadata: [("retort_model", model.briefDescription)])
        }
        guard let sequence = traces.sequence else { return (try translate(traces), notes) }
        do {
            return (try translate(traces), notes)
        } catch {
            // Something in the model follows the length in a way the graph cannot: fix it, and say why.
            traces = traces.fixingSequence
            notes.append("the sequence length is fixed at \(sequence.sizes.main): \(error)")
            return (try translate(traces), notes)
        }
    }

    /// The graphs at both batch sizes (the second first), and for token ids at a second length;
    /// notes say why the length stays fixed when the model does not run at another. export_torch
    /// (`op`) traces the same way.
    static func trace(_ model: Layer, example: Tensor, op: String = "export") throws -> (Traces, notes: [String]) {
        guard example.rank >= 1, example.shape[0] >= 1 else {
            throw TensorError(
                .shape, op, "the example input needs a batch axis first, with at least one row; got \(formatShape(example.shape))"
            )
        }
        let (n, m) = tracedBatches
        let rows = try repeatingRows(of: example, to: n)
        // The other sizes first, so a model that remembers its last input shape keeps the main one.
        // A shape error there is the example's: said with the shape given, not the traced batch's.
        let batch: Graph
        do {
            batch = try model.trace(repeatingRows(of: example, to: m))
        } catch let error as TensorError where error.kind == .shape {
            throw TensorError(
                .shape, op,
                "the example input \(formatShape(example.shape)) does not run through the model (traced as \(m) of its rows: \(error))"
                    + (example.rank == 1
                        ? "; a vector is a batch of \(example.shape[0]) single numbers: give one example as [1, n] rows, or a shape list with the batch first"
                        : ""))
        }
        var variations = [Variation(axis: .batch, graph: batch, sizes: (n, m))]
        var notes: [String] = []
        let ids = readsTokenIDs(batch, input: 0)
        if ids && example.rank == 2 {
            let length = example.shape[1]
            let other = length >= 3 ? length - 1 : length + 1
            do {
                let graph = try model.trace(resized(rows, length: other), inputName: "ids")
                variations.append(Variation(axis: .sequence, graph: graph, sizes: (length, other)))
            } catch {
                notes.append("the sequence length is fixed at \(length): the model does not run at length \(other) (\(error))")
            }
        }
        let main = try model.trace(rows, inputName: ids ? "ids" : "x")
        if let graph = ([main] + variations.map(\.graph)).first(where: { !$0.readOuts.isEmpty }) {
            throw TensorError(
                .value, op,
                "the model reads values computed from its input out as numbers (\(Set(graph.readOuts).sorted().joined(separator: "; "))): "
                    + "a traced graph would hold what the example gave there as constants, or the branch it took, and compute something else "
                    + "for other inputs. Keep the computation in tensor ops (x / max(abs(x)) broadcasts without item(); where(c, a, b) "
                    + "chooses per element)")
        }
        return (Traces(main: main, variations: variations), notes)
    }

    /// `batch` rows taken from `example`'s rows in turn.
    private static func repeatingRows(of example: Tensor, to batch: Int) throws -> Tensor {
        let rows = example.shape[0]
        let width = example.count / rows
        let values = example.scalars
        var scalars: [Float] = []
        scalars.reserveCapacity(batch * width)
        for row in 0..<batch { scalars += values[(row % rows) * width..<(row % rows + 1) * width] }
        return try Tensor(shape: [batch] + example.shape.dropFirst(), scalars: scalars)
    }

    /// Ids `[N, T]` cut or extended to `length` columns (extended by repeating each row's last id).
    private static func resized(_ ids: Tensor, length: Int) throws -> Tensor {
        let (rows, columns) = (ids.shape[0], ids.shape[1])
        let values = ids.scalars
        let scalars = (0..<rows).flatMap { row in
            (0..<length).map { column in values[row * columns + Swift.min(column, columns - 1)] }
        }
        return try Tensor(shape: [rows, length], scalars: scalars)
    }

    /// Each layer's dotted name (`""` for the model itself), for naming an int8 layer's tensors.
    private static func layerNames(_ model: Layer) -> [ObjectIdentifier: String] {
        var names: [ObjectIdentifier: String] = [:]
        for (name, layer) in model.namedModules where names[ObjectIdentifier(layer)] == nil {
            names[ObjectIdentifier(layer)] = name
        }
        return names
    }
}
