import Foundation
import RetortNN
import RetortTensor

// ModelProto and its small companions, as onnx.proto defines them (field numbers from onnx 1.23's
// onnx.proto). Only the fields Retort writes are here.

/// A whole ONNX model: the graph, the IR version and operator sets it is written against, and who made it.
public struct ModelProto: ProtobufMessage, Equatable {
    /// ONNX IR version 8, the one ONNX 1.12–1.13 write for opset 17; the lowest that opset allows,
    /// so the widest range of runtimes reads the file.
    public static let irVersion = 8
    /// The default-domain operator set Retort exports to.
    public static let opsetVersion = 17

    public var irVersion: Int
    public var opsetImport: [OperatorSetIdProto]
    public var producerName: String
    public var producerVersion: String
    public var docString: String
    public var graph: GraphProto
    /// Free-form key–value pairs, shown by viewers such as Netron.
    public var metadataProps: [StringStringEntryProto]

    public init(
        graph: GraphProto, irVersion: Int = ModelProto.irVersion,
        opsetImport: [OperatorSetIdProto] = [OperatorSetIdProto(domain: "", version: ModelProto.opsetVersion)],
        producerName: String = "retort", producerVersion: String = "", docString: String = "",
        metadataProps: [StringStringEntryProto] = []
    ) {
        self.graph = graph
        self.irVersion = irVersion
        self.opsetImport = opsetImport
        self.producerName = producerName
        self.producerVersion = producerVersion
        self.docString = docString
        self.metadataProps = metadataProps
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeInt(1, irVersion)
        if !producerName.isEmpty { writer.writeString(2, producerName) }
        if !producerVersion.isEmpty { writer.writeString(3, producerVersion) }
        if !docString.isEmpty { writer.writeString(6, docString) }
        writer.writeMessage(7, graph)
        for opset in opsetImport { writer.writeMessage(8, opset) }
        for entry in metadataProps { writer.writeMessage(14, entry) }
    }

    /// The model as the bytes of an `.onnx` file.
    public func serialized() -> [UInt8] { encoded }

    /// The most bytes a protobuf message may have: readers refuse larger files.
    public static let maximumBytes = Int(Int32.max)

    /// Writes the model to `path` atomically: a temporary file beside it, renamed over it once
    /// complete, so a failed write leaves no half-written file and any old file intact. Returns
    /// the number of bytes written.
    @discardableResult
    public func write(to path: String) throws -> Int {
        let bytes = serialized()
        guard bytes.count <= ModelProto.maximumBytes else {
            throw TensorError(
                .file,
                "export",
                "cannot write '\(path)': the model takes \(bytes.count) bytes, and an ONNX file holds at most 2 GiB "
                    + "(weights in a separate file are not supported)")
        }
        try writeFileAtomically(Data(bytes), to: path, op: "export")
        return bytes.count
    }
}

/// An operator set the model uses: a domain (`""` is the default, `ai.onnx`) and its version.
public struct OperatorSetIdProto: ProtobufMessage, Equatable {
    public var domain: String
    public var version: Int

    public init(domain: String = "", version: Int) {
        self.domain = domain
        self.version = version
    }

    func encode(to writer: inout ProtobufWriter) {
        // The domain is written even when empty, as onnx.helper.make_opsetid does.
        writer.writeString(1, domain)
        writer.writeInt(2, version)
    }
}

/// One key–value pair of a model's metadata.
public struct StringStringEntryProto: ProtobufMessage, Equatable {
    public var key: String
    public var value: String

    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeString(1, key)
        writer.writeString(2, value)
    }
}
