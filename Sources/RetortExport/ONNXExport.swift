import RetortGraph
import RetortNN
import RetortTensor

/// Exports a Retort model to an ONNX file (IR 8, opset 17) from its traced forward pass, so the
/// model runs in onnxruntime and every tool that reads ONNX.
///
/// The model is traced twice, at batch sizes 2 and 3: what differs between the two traces is what
/// depends on the batch, so reshapes, slices and expands keep the batch dimension dynamic instead
/// of baking in the size they were traced at (a batch of 1 would hide which axes are the batch).
/// Each top-level node becomes one or a few ONNX nodes (the table is `Translation.translate`);
/// an int8 model is written in QDQ form. Nothing is written unless the whole model translates.
public enum ONNXExport {
    /// The batch sizes the model is traced at; what differs between the two depends on the batch.
    static let tracedBatches = (2, 3)

    /// Exports `model` to `path` (written atomically: on failure no file, or the old one, is left).
    ///
    /// - Parameters:
    ///   - example: an input with the batch at axis 0, of any batch size; its rows are repeated to
    ///     make the traced batches.
    ///   - name: the ONNX graph's name.
    @discardableResult
    public static func export(_ model: Layer, example: Tensor, to path: String, name: String) throws -> Report {
        let proto = try self.model(model, example: example, name: name)
        let bytes = try proto.write(to: path)
        return Report(model: proto, byteSize: bytes)
    }

    /// The ONNX model `export` would write, without writing it.
    public static func model(_ model: Layer, example: Tensor, name: String) throws -> ModelProto {
        // Tracing would also feed the example to a calibrating model's observers.
        guard !Quantizer.isPrepared(model) else {
            throw TensorError(
                "export",
                "the model is prepared for quantisation (qat or calibrating); export the float model, or the int8 model "
                    + "Quantizer.convert makes of it")
        }
        let traces = try trace(model, example: example)
        var translation = try Translation(
            graph: traces.main, other: traces.other, name: name, layerNames: layerNames(model))
        try translation.translateAll()
        return translation.builder.model(metadata: [("retort_model", model.briefDescription)])
    }

    /// The graphs at both traced batch sizes, made from `example`'s rows.
    private static func trace(_ model: Layer, example: Tensor) throws -> (main: Graph, other: Graph) {
        guard example.rank >= 1, example.shape[0] >= 1 else {
            throw TensorError(
                "export", "the example input needs a batch axis first, with at least one row; got \(formatShape(example.shape))")
        }
        // The larger batch first, so a model that remembers its last input shape keeps the smaller one.
        let other = try model.trace(repeatingRows(of: example, to: tracedBatches.1))
        let main = try model.trace(repeatingRows(of: example, to: tracedBatches.0))
        return (main, other)
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

    /// Each layer's dotted name (`""` for the model itself), for naming an int8 layer's tensors.
    private static func layerNames(_ model: Layer) -> [ObjectIdentifier: String] {
        var names: [ObjectIdentifier: String] = [:]
        for (name, layer) in model.namedModules where names[ObjectIdentifier(layer)] == nil {
            names[ObjectIdentifier(layer)] = name
        }
        return names
    }
}
