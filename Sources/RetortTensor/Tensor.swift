/// A dense, row-major tensor of `Float` values of any rank, with value semantics.
///
/// Storage is shared between copies and duplicated on the first write to a shared copy.
/// Every tensor is contiguous: ops that reorder elements (permute, slice) produce new storage,
/// which keeps every kernel a plain loop or a single BLAS call.
public struct Tensor {
    /// The size of each dimension; `[]` for a scalar.
    public let shape: [Int]
    @usableFromInline var storage: TensorStorage

    /// A tensor of the given shape with every element set to `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *), repeating: value)
    }

    /// A tensor of the given shape from row-major scalars; throws when the counts differ.
    public init(shape: [Int], scalars: [Float]) throws {
        try MemoryBudget.check("tensor", shape)
        let count = shape.reduce(1, *)
        guard count == scalars.count else {
            throw TensorError(
                .shape,
                "tensor", "shape \(formatShape(shape)) holds \(count) elements but \(scalars.count) were given")
        }
        self.shape = shape
        storage = TensorStorage(count: count)
        scalars.withUnsafeBufferPointer { source in
            if count > 0 { storage.pointer.initialize(from: source.baseAddress!, count: count) }
        }
    }

    /// A rank-0 tensor holding one value.
    public init(_ scalar: Float) {
        shape = []
        storage = TensorStorage(count: 1, repeating: scalar)
    }

    /// A rank-1 tensor of the given values.
    public init(_ scalars: [Float]) {
        // The count always matches a rank-1 shape made from it.
        self = try! Tensor(shape: [scalars.count], scalars: scalars)
    }

    /// A tensor whose elements are filled by `body`, which receives the uninitialised buffer.
    @inlinable
    public init(shape: [Int], unsafeUninitialized body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.shape = shape
        storage = TensorStorage(count: shape.reduce(1, *))
        body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// A tensor whose values are not set: for an output that is written whole before anything
    /// reads it (a zero fill first would be a pass over memory for nothing).
    static func unfilled(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    @usableFromInline
    init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// The number of elements.
    @inlinable public var count: Int { storage.count }
    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }
    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }
    /// The only element of a one-element tensor, else nil.
    public var scalar: Float? { count == 1 ? storage.pointer[0] : nil }

    /// Reads the elements in row-major order.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// Writes the elements in place, copying the storage first if another tensor shares it.
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) rethrows -> R {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        storage.writes &+= 1
        return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: storage.count))
    }

    /// The element at a full multi-index (for tests and displays, not for kernels).
    public subscript(indices: Int...) -> Float {
        var offset = 0
        for (axis, index) in indices.enumerated() { offset = offset * shape[axis] + index }
        return storage.pointer[offset]
    }

    /// Whether this tensor and `other` are views of one storage (a buffer and a reshaped copy of it).
    public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// The same elements viewed with another shape of equal element count.
    @inlinable
    func withShape(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, storage: storage) }
}

extension Tensor {
    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 0) }
    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { Tensor(shape: shape, repeating: 1) }
    /// Values `start, start+step, ...` below `end`.
    public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
        arange(Double(start), Double(end), step: Double(step))
    }

    /// start, start + step, ... below end, the count and each value computed in Double and then
    /// rounded, as torch.arange: in float32 arange(-1, 1.0000001, step: 0.2) lost its last value.
    public static func arange(_ start: Double, _ end: Double, step: Double) -> Tensor {
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor(shape: [n]) { out in
            for i in 0..<n { out[i] = Float(start + Double(i) * step) }
        }
    }
    /// The identity matrix.
    public static func eye(_ n: Int) -> Tensor {
        var result = Tensor.zeros([n, n])
        result.withUnsafeMutableBufferPointer { out in
            for i in 0..<n { out[i * n + i] = 1 }
        }
        return result
    }
}

extension Tensor: Equatable {
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
    }
}

/// The row-major strides of a shape.
@inlinable
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}
