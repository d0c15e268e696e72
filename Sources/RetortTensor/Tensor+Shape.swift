/// A slice of one dimension with Python's meaning: `start:end:step`, nil for an open end.
public struct SliceRange: Equatable, Sendable {
    public var start: Int?
    public var end: Int?
    public var step: Int

    public init(start: Int? = nil, end: Int? = nil, step: Int = 1) {
        self.start = start
        self.end = end
        self.step = step
    }

    /// The first index and element count this range selects from a dimension of size `size`.
    public func resolve(size: Int) -> (start: Int, count: Int) {
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + size : i, 0), size) }
        let first = start.map(clampIndex) ?? 0
        let last = end.map(clampIndex) ?? size
        let count = last > first ? (last - first + step - 1) / step : 0
        return (first, count)
    }
}

extension Tensor {
    /// Copies the elements found at `base + Σ index[i] * strides[i]` into a new tensor of `outShape`.
    func stridedGather(base: Int, strides: [Int], outShape: [Int]) -> Tensor {
        withUnsafeBufferPointer { a in
            Tensor(shape: outShape) { out in
                forEachBroadcastRun(shape: outShape, stridesA: strides, stridesB: strides) { o, offA, _, n, sa, _ in
                    let src = a.baseAddress! + base + offA
                    for j in 0..<n { out[o + j] = src[j * sa] }
                }
            }
        }
    }

    /// The reverse of `stridedGather`: adds `source` into a zero tensor of `shape` at the same places.
    static func stridedScatter(_ source: Tensor, into shape: [Int], base: Int, strides: [Int]) -> Tensor {
        var result = Tensor.zeros(shape)
        result.withUnsafeMutableBufferPointer { out in
            source.withUnsafeBufferPointer { g in
                forEachBroadcastRun(shape: source.shape, stridesA: strides, stridesB: strides) { o, offA, _, n, sa, _ in
                    let dst = out.baseAddress! + base + offA
                    for j in 0..<n { dst[j * sa] += g[o + j] }
                }
            }
        }
        return result
    }

    /// The same elements in a new shape; one dimension may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let inferred = newShape.filter { $0 == -1 }.count
        guard inferred <= 1, newShape.allSatisfy({ $0 >= -1 }) else {
            throw TensorError(
                .shape, "reshape", "invalid shape \(formatShape(newShape)): at most one -1 and no other negative size")
        }
        var resolved = newShape
        if inferred == 1 {
            let known = newShape.filter { $0 != -1 }.reduce(1, *)
            guard known > 0, count % known == 0 else {
                throw TensorError(
                    .shape,
                    "reshape", "cannot reshape \(formatShape(shape)) (\(count) elements) to \(formatShape(newShape))")
            }
            resolved = newShape.map { $0 == -1 ? count / known : $0 }
        }
        guard resolved.reduce(1, *) == count else {
            throw TensorError(
                .shape, "reshape", "cannot reshape \(formatShape(shape)) (\(count) elements) to \(formatShape(newShape))")
        }
        return withShape(resolved)
    }

    /// Validates a permutation of this tensor's axes, resolving negative axes.
    func resolvePermutation(_ dims: [Int]) throws -> [Int] {
        guard dims.count == rank else {
            throw TensorError(
                .shape, "permute", "expected \(rank) axes for shape \(formatShape(shape)), got \(formatShape(dims))")
        }
        let resolved = try dims.map { try normalizeAxis($0, rank: rank, op: "permute") }
        guard Set(resolved).count == rank else {
            throw TensorError(.argument, "permute", "axes \(formatShape(dims)) are not a permutation of 0..<\(rank)")
        }
        return resolved
    }

    /// The axes reordered: result axis `i` is this tensor's axis `dims[i]`.
    public func permuted(_ dims: [Int]) throws -> Tensor {
        let resolved = try resolvePermutation(dims)
        if resolved == Array(0..<rank) { return self }
        let own = contiguousStrides(shape)
        return stridedGather(base: 0, strides: resolved.map { own[$0] }, outShape: resolved.map { shape[$0] })
    }

    /// Two axes swapped.
    public func transposed(_ dim0: Int = -2, _ dim1: Int = -1) throws -> Tensor {
        guard rank >= 2 || (rank < 2 && dim0 == -2 && dim1 == -1) else {
            throw TensorError(.shape, "transpose", "needs a tensor of rank 2 or more, got \(formatShape(shape))")
        }
        if rank < 2 { return self }
        let a = try normalizeAxis(dim0, rank: rank, op: "transpose")
        let b = try normalizeAxis(dim1, rank: rank, op: "transpose")
        var dims = Array(0..<rank)
        dims.swapAt(a, b)
        return try permuted(dims)
    }

    /// Where a slice reads from: base offset, strides and result shape.
    func sliceGeometry(_ ranges: [SliceRange]) throws -> (base: Int, strides: [Int], shape: [Int]) {
        guard ranges.count <= rank else {
            throw TensorError(
                .argument, "slice", "\(ranges.count) ranges given for a tensor of rank \(rank) \(formatShape(shape))")
        }
        let own = contiguousStrides(shape)
        var base = 0
        var strides = own
        var outShape = shape
        for (axis, range) in ranges.enumerated() {
            guard range.step > 0 else {
                throw TensorError(.argument, "slice", "step must be positive, got \(range.step) on axis \(axis)")
            }
            let (start, n) = range.resolve(size: shape[axis])
            base += start * own[axis]
            strides[axis] = own[axis] * range.step
            outShape[axis] = n
        }
        return (base, strides, outShape)
    }

    /// A copy of the elements selected by one Python-style range per leading axis.
    public func sliced(_ ranges: [SliceRange]) throws -> Tensor {
        let g = try sliceGeometry(ranges)
        return stridedGather(base: g.base, strides: g.strides, outShape: g.shape)
    }

    /// Resolves an index along `axis`, negative counting from the end, or throws naming both.
    func resolveIndex(_ index: Int, axis: Int, op: String) throws -> Int {
        let size = shape[axis]
        let i = index < 0 ? index + size : index
        guard i >= 0, i < size else {
            throw TensorError(
                .argument, op, "index \(index) is out of range for axis \(axis) of size \(size) in \(formatShape(shape))")
        }
        return i
    }

    /// The rows (slices along the first axis) at `indices`, in that order: a batch of examples.
    /// Indices must be in range; callers pass positions they computed from the first dimension.
    public func rows(_ indices: [Int]) -> Tensor {
        let width = count / Swift.max(shape.first ?? 1, 1)
        return withUnsafeBufferPointer { src in
            Tensor(shape: [indices.count] + Array(shape.dropFirst())) { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * width).update(from: src.baseAddress! + i * width, count: width)
                }
            }
        }
    }

    /// The sub-tensor at `index` along `axis`, with that axis removed.
    public func selecting(axis: Int, index: Int) throws -> Tensor {
        guard rank > 0 else { throw TensorError(.argument, "select", "cannot index a scalar") }
        let ax = try normalizeAxis(axis, rank: rank, op: "select")
        let i = try resolveIndex(index, axis: ax, op: "select")
        var ranges = [SliceRange](repeating: SliceRange(), count: ax + 1)
        ranges[ax] = SliceRange(start: i, end: i + 1)
        var outShape = shape
        outShape.remove(at: ax)
        return try sliced(ranges).withShape(outShape)
    }

    /// Tensors joined along an existing axis; every other dimension must agree.
    public static func concat(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError(.argument, "concat", "needs at least one tensor") }
        guard first.rank > 0 else { throw TensorError(.shape, "concat", "cannot concatenate scalars; use stack") }
        let ax = try normalizeAxis(axis, rank: first.rank, op: "concat")
        for t in tensors.dropFirst() {
            var a = t.shape
            var b = first.shape
            guard a.count == b.count else {
                throw TensorError(.shape, "concat", "ranks differ: \(formatShape(first.shape)) and \(formatShape(t.shape))")
            }
            a[ax] = 0
            b[ax] = 0
            guard a == b else {
                throw TensorError(
                    .shape,
                    "concat", "shapes differ outside axis \(axis): \(formatShape(first.shape)) and \(formatShape(t.shape))")
            }
        }
        // A list may name one large tensor many times (doubled in a loop): the sum is checked before it is made.
        var outShape = first.shape
        outShape[ax] = tensors.reduce(0) { total, t in
            let (sum, overflow) = total.addingReportingOverflow(t.shape[ax])
            return overflow ? Int.max : sum
        }
        try MemoryBudget.check("concat", outShape)
        let outer = first.shape[..<ax].reduce(1, *)
        let inner = first.shape[(ax + 1)...].reduce(1, *)
        return Tensor(shape: outShape) { out in
            var dst = out.baseAddress!
            for o in 0..<outer {
                for t in tensors {
                    let run = t.shape[ax] * inner
                    t.withUnsafeBufferPointer { src in
                        if run > 0 { dst.update(from: src.baseAddress! + o * run, count: run) }
                    }
                    dst += run
                }
            }
        }
    }

    /// Tensors of one shape joined along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError(.argument, "stack", "needs at least one tensor") }
        for t in tensors where t.shape != first.shape {
            throw TensorError(.shape, "stack", "shapes differ: \(formatShape(first.shape)) and \(formatShape(t.shape))")
        }
        let ax = try normalizeAxis(axis, rank: first.rank + 1, op: "stack")
        var expanded = first.shape
        expanded.insert(1, at: ax)
        return try concat(tensors.map { $0.withShape(expanded) }, axis: ax)
    }

    /// Why `value` is no index below `size`, for messages: `3 is outside 0..<3`, `0.5 is not a
    /// whole number in 0..<2` (a whole number once read `3.0 ... is not a whole number`).
    func indexProblem(_ value: Float, below size: Int) -> String {
        if value.isFinite, value == value.rounded(), Swift.abs(value) < 1e15 { return "\(Int(value)) is outside 0..<\(size)" }
        return "\(value) is not a whole number in 0..<\(size)"
    }

    /// Reads an integer index tensor, checking each value is a whole number in `0..<size`.
    func integerIndices(op: String, below size: Int, what: String) throws -> [Int] {
        try withUnsafeBufferPointer { a in
            try a.enumerated().map { position, value in
                guard value == value.rounded(), value >= 0, value < Float(size) else {
                    throw TensorError(.value, op, "\(what) \(indexProblem(value, below: size)) at position \(position)")
                }
                return Int(value)
            }
        }
    }

    /// PyTorch's `gather`: `out[i][j][k] = self[i][index[i][j][k]][k]` for axis 1, and so on.
    public func gathered(axis: Int, index: Tensor) throws -> Tensor {
        // A 0-d tensor has no axis to pick along (its offsets were read past the shape: a crash).
        guard rank >= 1 else {
            throw TensorError(.shape, "gather", "needs a tensor of rank 1 or more, got a 0-d tensor; it is its own value")
        }
        let ax = try normalizeAxis(axis, rank: rank, op: "gather")
        guard index.rank == rank else {
            throw TensorError(
                .shape,
                "gather", "index rank differs from input: \(formatShape(shape)) and index \(formatShape(index.shape))")
        }
        for d in 0..<rank where d != ax && index.shape[d] > shape[d] {
            throw TensorError(
                .shape,
                "gather", "index \(formatShape(index.shape)) is larger than input \(formatShape(shape)) on axis \(d)")
        }
        let positions = try gatherOffsets(axis: ax, index: index)
        return withUnsafeBufferPointer { a in
            Tensor(shape: index.shape) { out in
                for (i, p) in positions.enumerated() { out[i] = a[p] }
            }
        }
    }

    /// The flat offsets into this tensor that `gathered(axis:index:)` reads, one per index element.
    func gatherOffsets(axis: Int, index: Tensor) throws -> [Int] {
        let values = try index.integerIndices(op: "gather", below: shape[axis], what: "index")
        let own = contiguousStrides(shape)
        let idxStrides = contiguousStrides(index.shape)
        return values.enumerated().map { flat, value in
            var offset = 0
            var rest = flat
            for d in 0..<rank {
                let coordinate = rest / idxStrides[d]
                rest %= idxStrides[d]
                offset += (d == axis ? value : coordinate) * own[d]
            }
            return offset
        }
    }

    /// Class indices (a tensor of whole numbers) as one-hot rows with `classes` columns.
    public func oneHot(classes: Int) throws -> Tensor {
        guard classes > 0 else {
            throw TensorError(.argument, "one_hot", "the number of classes must be positive, got \(classes)")
        }
        try MemoryBudget.check("one_hot", shape + [classes])
        let labels = try integerIndices(op: "one_hot", below: classes, what: "label")
        var result = Tensor.zeros(shape + [classes])
        result.withUnsafeMutableBufferPointer { out in
            for (i, label) in labels.enumerated() { out[i * classes + label] = 1 }
        }
        return result
    }
}
