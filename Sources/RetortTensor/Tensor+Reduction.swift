import Foundation

extension Tensor {
    /// Splits the shape around `axis` into (elements before, size of axis, elements after).
    @inlinable
    func split(at axis: Int) -> (outer: Int, size: Int, inner: Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// The shape after reducing `axes`, kept as size 1 or dropped.
    func reducedShape(_ axes: Set<Int>, keepDims: Bool) -> [Int] {
        var result: [Int] = []
        for (i, d) in shape.enumerated() {
            if axes.contains(i) {
                if keepDims { result.append(1) }
            } else {
                result.append(d)
            }
        }
        return result
    }

    /// Normalises an axis list for a reduction named `op`; nil means every axis.
    func reductionAxes(_ axes: [Int]?, op: String) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        if rank == 0 {
            for a in axes { _ = try normalizeAxis(a, rank: 0, op: op) }
            return []
        }
        var seen = Set<Int>()
        for a in axes {
            let axis = try normalizeAxis(a, rank: rank, op: op)
            guard seen.insert(axis).inserted else { throw TensorError(.argument, op, "axis \(a) is repeated") }
        }
        return seen.sorted()
    }

    /// Sums along one axis, keeping it with size 1.
    func sumKeeping(axis: Int) -> Tensor {
        let (outer, size, inner) = split(at: axis)
        var outShape = shape
        outShape[axis] = 1
        // Long sums are taken in blocks of `sumBlock` float additions whose totals add up in a
        // Double: one running float sum over 50,000 latitudes near -74 drifted by 0.01 (standardize
        // then shifted them by a third of a standard deviation). A sum of at most `sumBlock` values
        // is one block, the same bits as before.
        if inner == 1 {
            // Over the last axis (layer norm, softmax's backward, attention): each sum in a
            // register, not through memory, adding in the same order, so the same bits.
            return withUnsafeBufferPointer { a in
                Tensor(shape: outShape) { out in
                    for o in 0..<outer {
                        let src = a.baseAddress! + o * size
                        var total: Double = 0
                        var k = 0
                        repeat {
                            let end = Swift.min(k + Self.sumBlock, size)
                            var block: Float = 0
                            while k < end {
                                block += src[k]
                                k += 1
                            }
                            total += Double(block)
                        } while k < size
                        out[o] = Float(total)
                    }
                }
            }
        }
        return withUnsafeBufferPointer { a in
            Tensor(shape: outShape) { out in
                var totals = size > Self.sumBlock ? [Double](repeating: 0, count: inner) : []
                for o in 0..<outer {
                    let dst = out.baseAddress! + o * inner
                    var src = a.baseAddress! + o * size * inner
                    var done = 0
                    repeat {
                        dst.initialize(repeating: 0, count: inner)
                        let rows = Swift.min(Self.sumBlock, size - done)
                        for _ in 0..<rows {
                            for j in 0..<inner { dst[j] += src[j] }
                            src += inner
                        }
                        done += rows
                        if !totals.isEmpty { for j in 0..<inner { totals[j] += Double(dst[j]) } }
                    } while done < size
                    if !totals.isEmpty {
                        for j in 0..<inner {
                            dst[j] = Float(totals[j])
                            totals[j] = 0
                        }
                    }
                }
            }
        }
    }

    /// How many values a reduction adds in float before handing the block's total to a Double.
    static let sumBlock = 256

    /// The sum over `axes` (nil: all of them).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try reductionAxes(axes, op: "sum")
        if resolved.count == rank && !keepDims {
            // A whole-tensor sum accumulates in Double so long sums stay accurate.
            let total = withUnsafeBufferPointer { a in
                var s: Double = 0
                for x in a { s += Double(x) }
                return s
            }
            return Tensor(Float(total))
        }
        var result = self
        for axis in resolved { result = result.sumKeeping(axis: axis) }
        return keepDims ? result : result.withShape(reducedShape(Set(resolved), keepDims: false))
    }

    /// The mean over `axes` (nil: all of them).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try reductionAxes(axes, op: "mean")
        let n = resolved.reduce(1) { $0 * shape[$1] }
        return try sum(axes: resolved, keepDims: keepDims) * (1 / Float(n))
    }

    /// The largest (or smallest) value along one axis and the index where it first occurs.
    public func extremum(axis: Int, keepDims: Bool, largest: Bool, op: String) throws -> (values: Tensor, indices: Tensor) {
        guard count > 0 else { throw TensorError(.shape, op, "cannot reduce an empty tensor") }
        if rank == 0 {
            _ = try normalizeAxis(axis, rank: 0, op: op)
            return (self, Tensor(0))
        }
        let ax = try normalizeAxis(axis, rank: rank, op: op)
        let (outer, size, inner) = split(at: ax)
        let outShape = reducedShape([ax], keepDims: keepDims)
        var indices = Tensor.zeros(outShape)
        let values = withUnsafeBufferPointer { a in
            indices.withUnsafeMutableBufferPointer { idx in
                Tensor(shape: outShape) { out in
                    for o in 0..<outer {
                        for j in 0..<inner {
                            var best = a[o * size * inner + j]
                            var bestIndex = 0
                            for k in 1..<Swift.max(size, 1) {
                                let v = a[(o * size + k) * inner + j]
                                // NaN wins, as in PyTorch, so a broken value is never hidden.
                                if (largest ? v > best : v < best) || (v.isNaN && !best.isNaN) {
                                    best = v
                                    bestIndex = k
                                }
                            }
                            out[o * inner + j] = best
                            idx[o * inner + j] = Float(bestIndex)
                        }
                    }
                }
            }
        }
        return (values, indices)
    }

    /// The largest value over `axis` (nil: the whole tensor).
    public func max(axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        guard let axis else { return try flattenedExtremum(largest: true, keepDims: keepDims, op: "max") }
        return try extremum(axis: axis, keepDims: keepDims, largest: true, op: "max").values
    }

    /// The smallest value over `axis` (nil: the whole tensor).
    public func min(axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        guard let axis else { return try flattenedExtremum(largest: false, keepDims: keepDims, op: "min") }
        return try extremum(axis: axis, keepDims: keepDims, largest: false, op: "min").values
    }

    /// The index of the largest value over `axis` (nil: into the flattened tensor).
    public func argmax(axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        guard let axis else {
            let flat = try withShape([count]).extremum(axis: 0, keepDims: false, largest: true, op: "argmax")
            return keepDims ? flat.indices.withShape([Int](repeating: 1, count: rank)) : flat.indices
        }
        return try extremum(axis: axis, keepDims: keepDims, largest: true, op: "argmax").indices
    }

    func flattenedExtremum(largest: Bool, keepDims: Bool, op: String) throws -> Tensor {
        let flat = try withShape([count]).extremum(axis: 0, keepDims: false, largest: largest, op: op).values
        return keepDims ? flat.withShape([Int](repeating: 1, count: rank)) : flat
    }

    /// log(sum(exp(x))) over `axes`, computed without overflow by subtracting the maximum first.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let resolved = try reductionAxes(axes, op: "logsumexp")
        // As PyTorch: the log of an empty sum is -inf (an empty result stays empty); the shift
        // below would take the max of nothing.
        if count == 0 { return Tensor(shape: reducedShape(Set(resolved), keepDims: keepDims), repeating: -.infinity) }
        var peak = self
        for axis in resolved { peak = try peak.max(axis: axis, keepDims: true) }
        // An all -inf slice keeps -inf rather than producing NaN from inf - inf.
        let shift = peak.map { $0.isFinite ? $0 : 0 }
        let shifted = try (self - shift).exp()
        let total = try shifted.sum(axes: resolved, keepDims: true).log() + shift
        return keepDims ? total : total.withShape(reducedShape(Set(resolved), keepDims: false))
    }
}
