// AttributeProto, as onnx.proto defines it: a node's named constant setting (`axis`, `pads`, `epsilon`).

/// A named attribute of a node, holding one value of one of the kinds Retort's operators need.
///
/// The value is an enum, so the `type` field that onnx.proto keeps beside it cannot disagree with it.
public struct AttributeProto: ProtobufMessage, Equatable {
    /// onnx.proto's `AttributeType`, every value (Retort writes the first eight kinds but graphs).
    public enum AttributeType: Int, Equatable {
        case undefined = 0
        case float = 1
        case int = 2
        case string = 3
        case tensor = 4
        case graph = 5
        case floats = 6
        case ints = 7
        case strings = 8
        case tensors = 9
        case graphs = 10
        case sparseTensor = 11
        case sparseTensors = 12
        case typeProto = 13
        case typeProtos = 14
    }

    /// The attribute's value.
    public enum Value: Equatable {
        case float(Float)
        case int(Int)
        case string(String)
        case tensor(TensorProto)
        case floats([Float])
        case ints([Int])
        case strings([String])
    }

    public var name: String
    public var value: Value

    public init(name: String, value: Value) {
        self.name = name
        self.value = value
    }

    /// The kind of value, as written to the `type` field.
    public var type: AttributeType {
        switch value {
        case .float: return .float
        case .int: return .int
        case .string: return .string
        case .tensor: return .tensor
        case .floats: return .floats
        case .ints: return .ints
        case .strings: return .strings
        }
    }

    // Shorthands for node attributes: `.int("axis", 1)`, `.ints("pads", [1, 1, 1, 1])`.

    public static func float(_ name: String, _ value: Float) -> AttributeProto {
        AttributeProto(name: name, value: .float(value))
    }
    public static func int(_ name: String, _ value: Int) -> AttributeProto {
        AttributeProto(name: name, value: .int(value))
    }
    public static func string(_ name: String, _ value: String) -> AttributeProto {
        AttributeProto(name: name, value: .string(value))
    }
    public static func tensor(_ name: String, _ value: TensorProto) -> AttributeProto {
        AttributeProto(name: name, value: .tensor(value))
    }
    public static func floats(_ name: String, _ values: [Float]) -> AttributeProto {
        AttributeProto(name: name, value: .floats(values))
    }
    public static func ints(_ name: String, _ values: [Int]) -> AttributeProto {
        AttributeProto(name: name, value: .ints(values))
    }
    public static func strings(_ name: String, _ values: [String]) -> AttributeProto {
        AttributeProto(name: name, value: .strings(values))
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeString(1, name)
        switch value {
        case .float(let value): writer.writeFloat(2, value)
        case .int(let value): writer.writeInt(3, value)
        case .string(let value): writer.writeString(4, value)
        case .tensor(let value): writer.writeMessage(5, value)
        // onnx.proto is proto2 and leaves these unpacked: written as onnx itself writes them.
        case .floats(let values): writer.writeRepeatedFloats(7, values)
        case .ints(let values): writer.writeRepeatedInts(8, values)
        case .strings(let values): for value in values { writer.writeString(9, value) }
        }
        writer.writeInt(20, type.rawValue)
    }
}
