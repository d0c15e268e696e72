// ValueInfoProto and the parts of TypeProto and TensorShapeProto it needs, as onnx.proto defines
// them: the declared type of a graph's input, output or intermediate value.

/// A named value and its tensor type.
public struct ValueInfoProto: ProtobufMessage, Equatable {
    public var name: String
    public var type: TypeProto
    public var docString: String

    public init(name: String, type: TypeProto, docString: String = "") {
        self.name = name
        self.type = type
        self.docString = docString
    }

    /// A tensor value of `elementType` and `shape` (nil when even the rank is unknown).
    public init(name: String, elementType: TensorProto.DataType, shape: [TensorShapeProto.Dimension]?) {
        self.init(
            name: name,
            type: TypeProto(tensorType: TypeProto.Tensor(elemType: elementType, shape: shape.map(TensorShapeProto.init))))
    }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeString(1, name)
        writer.writeMessage(2, type)
        if !docString.isEmpty { writer.writeString(3, docString) }
    }
}

/// A value's type; Retort's values are all tensors, so only `tensor_type` of the oneof is here.
public struct TypeProto: ProtobufMessage, Equatable {
    /// A tensor type: its element type and, when known, its shape.
    public struct Tensor: ProtobufMessage, Equatable {
        public var elemType: TensorProto.DataType
        /// Nil when the rank is unknown; an empty shape is a scalar.
        public var shape: TensorShapeProto?

        public init(elemType: TensorProto.DataType, shape: TensorShapeProto?) {
            self.elemType = elemType
            self.shape = shape
        }

        func encode(to writer: inout ProtobufWriter) {
            writer.writeInt(1, elemType.rawValue)
            if let shape { writer.writeMessage(2, shape) }
        }
    }

    public var tensorType: Tensor

    public init(tensorType: Tensor) { self.tensorType = tensorType }

    func encode(to writer: inout ProtobufWriter) {
        writer.writeMessage(1, tensorType)
    }
}

/// A tensor's shape, each dimension a size or a name shared by dimensions that must agree.
public struct TensorShapeProto: ProtobufMessage, Equatable {
    /// One dimension: a fixed size, or a symbolic one such as `"batch"`.
    ///
    /// Literals work: `["batch", 784]` is `[.param("batch"), .value(784)]`.
    public enum Dimension: Equatable, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, CustomStringConvertible {
        case value(Int)
        case param(String)

        public init(integerLiteral value: Int) { self = .value(value) }
        public init(stringLiteral value: String) { self = .param(value) }

        public var description: String {
            switch self {
            case .value(let size): return String(size)
            case .param(let name): return name
            }
        }
    }

    public var dim: [Dimension]

    public init(_ dim: [Dimension]) { self.dim = dim }

    func encode(to writer: inout ProtobufWriter) {
        for dimension in dim {
            writer.writeMessage(1) { writer in
                switch dimension {
                case .value(let size): writer.writeInt(1, size)
                case .param(let name): writer.writeString(2, name)
                }
            }
        }
    }
}
