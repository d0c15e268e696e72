import RetortTensor

// TensorProto, as onnx.proto defines it: a constant tensor (a weight, a scale, a zero point).

/// A named constant tensor, its elements stored little-endian in `rawData`, as onnx.proto
/// recommends for every fixed-width type.
public struct TensorProto: ProtobufMessage, Equatable {
    /// onnx.proto's `TensorProto.DataType`: the element types Retort exports.
    public enum DataType: Int, Equatable, CustomStringConvertible {
        case float = 1
        case uint8 = 2
        case int8 = 3
        case int32 = 6
        case int64 = 7
        case bool = 9

        /// Bytes per element in `raw_data`.
        public var byteWidth: Int {
            switch self {
            case .float, .int32: return 4
            case .uint8, .int8, .bool: return 1
            case .int64: return 8
            }
        }

        public var description: String {
            switch self {
            case .float: return "float32"
            case .uint8: return "uint8"
            case .int8: return "int8"
            case .int32: return "int32"
            case .int64: return "int64"
            case .bool: return "bool"
            }
        }
    }

    public var name: String
    public var dims: [Int]
    public var dataType: DataType
    /// The elements in row-major order, little-endian, `byteWidth` bytes each.
    public var rawData: [UInt8]

    /// A tensor from its encoded elements; throws when `rawData` does not hold exactly `dims`' elements.
    public init(name: String, dims: [Int], dataType: DataType, rawData: [UInt8]) throws {
        let count = try TensorProto.elementCount(dims, name: name)
        guard rawData.count == count * dataType.byteWidth else {
            throw TensorError(
                .shape,
                "export",
                "tensor '\(name)': dims \(formatShape(dims)) hold \(count) \(dataType) values "
                    + "(\(count * dataType.byteWidth) bytes) but \(rawData.count) bytes were given")
        }
        self.name = name
        self.dims = dims
        self.dataType = dataType
        self.rawData = rawData
    }

    /// A float32 tensor with the shape and elements of a Retort tensor.
    public init(name: String, float32 tensor: Tensor) {
        var raw: [UInt8] = []
        raw.reserveCapacity(4 * tensor.count)
        tensor.withUnsafeBufferPointer { values in
            for value in values { TensorProto.appendLittleEndian(value.bitPattern, to: &raw) }
        }
        self.name = name
        dims = tensor.shape
        dataType = .float
        rawData = raw
    }

    /// A float32 tensor of `dims` from row-major values.
    public init(name: String, floats values: [Float], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .float, values: values.map(\.bitPattern))
    }

    /// An int8 tensor (quantized weights, weight zero points).
    public init(name: String, int8 values: [Int8], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .int8, values: values)
    }

    /// A uint8 tensor (activation zero points).
    public init(name: String, uint8 values: [UInt8], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .uint8, values: values)
    }

    /// An int32 tensor (quantized biases).
    public init(name: String, int32 values: [Int32], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .int32, values: values)
    }

    /// An int64 tensor (shapes for Reshape, indices, axes).
    public init(name: String, int64 values: [Int64], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .int64, values: values)
    }

    /// A bool tensor (attention masks): one byte per element, 0 or 1.
    public init(name: String, bool values: [Bool], dims: [Int]) throws {
        try self.init(name: name, dims: dims, dataType: .bool, values: values.map { $0 ? UInt8(1) : 0 })
    }

    private init<T: FixedWidthInteger>(name: String, dims: [Int], dataType: DataType, values: [T]) throws {
        let count = try TensorProto.elementCount(dims, name: name)
        guard values.count == count else {
            throw TensorError(
                .shape,
                "export", "tensor '\(name)': dims \(formatShape(dims)) hold \(count) values but \(values.count) were given")
        }
        var raw: [UInt8] = []
        raw.reserveCapacity(values.count * MemoryLayout<T>.size)
        for value in values { TensorProto.appendLittleEndian(value, to: &raw) }
        try self.init(name: name, dims: dims, dataType: dataType, rawData: raw)
    }

    private static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The number of elements `dims` hold, or an error naming the tensor when a size is negative
    /// or the product overflows.
    private static func elementCount(_ dims: [Int], name: String) throws -> Int {
        var count = 1
        for size in dims {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard size >= 0, !overflow else {
                throw TensorError(.shape, "export", "tensor '\(name)': dims \(formatShape(dims)) are not a valid shape")
            }
            count = product
        }
        return count
    }

    func encode(to writer: inout ProtobufWriter) {
        // Unpacked, as onnx.proto (proto2) declares `dims` and onnx itself writes them.
        writer.writeRepeatedInts(1, dims)
        writer.writeInt(2, dataType.rawValue)
        writer.writeString(8, name)
        // Written even when empty: an empty `raw_data` says "no elements", its absence "no data".
        writer.writeBytes(9, rawData)
    }
}
