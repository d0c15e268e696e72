/// NumPy/PyTorch broadcasting: shapes are aligned at their last dimension, and a dimension of
/// size 1 (or a missing one) stretches to match the other.
public func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let rank = max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            result[i] = da
        } else if da == 1 {
            result[i] = db
        } else {
            throw TensorError(.shape, op, "shapes cannot be broadcast together: \(formatShape(a)) and \(formatShape(b))")
        }
    }
    try MemoryBudget.check(op, result)
    return result
}

/// Strides that read a tensor of `shape` as if it had `target` shape: 0 along stretched dimensions.
@inlinable
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let offset = target.count - shape.count
    var strides = [Int](repeating: 0, count: target.count)
    for i in 0..<shape.count where shape[i] != 1 {
        strides[i + offset] = own[i]
    }
    return strides
}

/// Visits every element of an output of `shape`, giving the flat offsets into two broadcast inputs.
///
/// The innermost dimension is handed over as one run (`count`, `strideA`, `strideB`) so kernels can
/// keep their inner loop free of index arithmetic.
@inlinable
func forEachBroadcastRun(
    shape: [Int], stridesA: [Int], stridesB: [Int],
    _ body: (_ outOffset: Int, _ offsetA: Int, _ offsetB: Int, _ count: Int, _ strideA: Int, _ strideB: Int) -> Void
) {
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    let rank = shape.count
    let inner = rank == 0 ? 1 : shape[rank - 1]
    let innerA = rank == 0 ? 0 : stridesA[rank - 1]
    let innerB = rank == 0 ? 0 : stridesB[rank - 1]
    var index = [Int](repeating: 0, count: max(rank - 1, 0))
    var offsetA = 0
    var offsetB = 0
    var outOffset = 0
    while outOffset < total {
        body(outOffset, offsetA, offsetB, inner, innerA, innerB)
        outOffset += inner
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            offsetA += stridesA[axis]
            offsetB += stridesB[axis]
            if index[axis] < shape[axis] { break }
            offsetA -= stridesA[axis] * shape[axis]
            offsetB -= stridesB[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}

extension Tensor {
    /// This tensor stretched to `target` by broadcasting (a copy).
    public func expanded(to target: [Int]) throws -> Tensor {
        let result = try broadcastShape(shape, target, op: "expand")
        guard result == target else {
            throw TensorError(.shape, "expand", "cannot expand \(formatShape(shape)) to \(formatShape(target))")
        }
        if shape == target { return self }
        let strides = broadcastStrides(shape, to: target)
        return withUnsafeBufferPointer { a in
            Tensor(shape: target) { out in
                forEachBroadcastRun(shape: target, stridesA: strides, stridesB: strides) { o, offA, _, n, sa, _ in
                    for j in 0..<n { out[o + j] = a[offA + j * sa] }
                }
            }
        }
    }

    /// Sums this tensor down to `target`, undoing a broadcast (the backward of broadcasting).
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = shape.count - target.count
        var axes: [Int] = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[i + lead] != 1 {
            axes.append(i + lead)
        }
        // Axes are valid by construction: they come from this tensor's own shape.
        let reduced = try! sum(axes: axes, keepDims: true)
        return reduced.withShape(target)
    }
}
