extension Variable {
    /// The sum over `axes` (nil: all of them).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let resolved = try value.reductionAxes(axes, op: "sum")
        let out = try value.sum(axes: resolved, keepDims: keepDims)
        let inputShape = shape
        let kept = value.reducedShape(Set(resolved), keepDims: true)
        return Variable.make(out, [self], op: .reduction("sum", axes: resolved, keepDims: keepDims)) { g in
            [try! g.withShape(kept).expanded(to: inputShape)]
        }
    }

    /// The mean over `axes` (nil: all of them).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let resolved = try value.reductionAxes(axes, op: "mean")
        let n = resolved.reduce(1) { $0 * shape[$1] }
        // Over nothing the mean is 0/0, NaN, as PyTorch's (it was 0 here: a silent answer).
        let scale = 1 / Float(n)
        let out = try value.sum(axes: resolved, keepDims: keepDims) * scale
        let inputShape = shape
        let kept = value.reducedShape(Set(resolved), keepDims: true)
        // One op rather than a sum and a scale by 1/n: an exported graph then reads the size it
        // divides by at run time (ReduceMean), so a mean over the batch exports with a dynamic batch.
        return Variable.make(out, [self], op: .reduction("mean", axes: resolved, keepDims: keepDims)) { g in
            [try! (g.withShape(kept) * scale).expanded(to: inputShape)]
        }
    }

    /// The largest value over `axis`; nil reduces the whole tensor (ties share the gradient evenly).
    public func max(axis: Int? = nil, keepDims: Bool = false) throws -> Variable {
        try extremum(axis: axis, keepDims: keepDims, largest: true, op: "max")
    }

    /// The smallest value over `axis`; nil reduces the whole tensor.
    public func min(axis: Int? = nil, keepDims: Bool = false) throws -> Variable {
        try extremum(axis: axis, keepDims: keepDims, largest: false, op: "min")
    }

    func extremum(axis: Int?, keepDims: Bool, largest: Bool, op: String) throws -> Variable {
        let x = value
        if let axis, x.rank == 0 { _ = try normalizeAxis(axis, rank: 0, op: op) }
        guard let axis, x.rank > 0 else {
            // Whole-tensor max/min, like torch.amax: the gradient is shared among all tied maxima.
            let out = largest ? try x.max(axis: nil, keepDims: keepDims) : try x.min(axis: nil, keepDims: keepDims)
            let best = out.storage.pointer[0]
            return Variable.make(out, [self], op: .reduction(op, axes: Array(0..<x.rank), keepDims: keepDims)) { g in
                // A NaN result shares it among the NaNs, as PyTorch's (NaN equals nothing: all NaN before).
                let mask = x.map { best.isNaN ? ($0.isNaN ? 1 : 0) : ($0 == best ? 1 : 0) }
                let ties = mask.scalars.reduce(0, +)
                return [mask * (g.storage.pointer[0] / ties)]
            }
        }
        let ax = try normalizeAxis(axis, rank: x.rank, op: op)
        let (values, indices) = try x.extremum(axis: ax, keepDims: keepDims, largest: largest, op: op)
        // The gradient goes to the index returned, as torch.max(dim) does.
        let kept = x.reducedShape([ax], keepDims: true)
        let idx = indices.withShape(kept)
        return Variable.make(values, [self], op: .reduction(op, axes: [ax], keepDims: keepDims)) { g in
            [Tensor.scatterAlong(axis: ax, index: idx, source: g.withShape(kept), shape: x.shape)]
        }
    }

    /// log Σ exp over `axes`, without overflow.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let x = value
        let resolved = try x.reductionAxes(axes, op: "logsumexp")
        let out = try x.logSumExp(axes: resolved, keepDims: keepDims)
        let kept = x.reducedShape(Set(resolved), keepDims: true)
        return Variable.make(out, [self], op: .reduction("logsumexp", axes: resolved, keepDims: keepDims)) { g in
            let weights = try! (x - out.withShape(kept)).exp()
            return [try! weights * g.withShape(kept)]
        }
    }
}

extension Tensor {
    /// Adds `source` into a zero tensor of `shape` at the positions `index` names along `axis`
    /// (the adjoint of `gathered`).
    static func scatterAlong(axis: Int, index: Tensor, source: Tensor, shape: [Int]) -> Tensor {
        var result = Tensor.zeros(shape)
        // Indices come from our own reductions or a validated gather, so they are in range.
        let offsets = try! result.gatherOffsets(axis: axis, index: index)
        result.withUnsafeMutableBufferPointer { out in
            source.withUnsafeBufferPointer { s in
                for (i, p) in offsets.enumerated() { out[p] += s[i] }
            }
        }
        return result
    }
}
