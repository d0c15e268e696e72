import Foundation

/// What softmax subtracts from a row whose largest value is `largest` before exponentiating: that
/// value, 0 when it is not finite (a row of −∞), or nil when it is +∞, whose row is NaN throughout
/// (∞ − ∞, as PyTorch's; not NaN at the ∞ and 0 elsewhere). Every Swift softmax path asks here.
func softmaxShift(largest: Float) -> Float? {
    if largest == .infinity { return nil }
    return largest.isFinite ? largest : 0
}

extension Tensor {
    /// Runs `body` over every 1-D slice along `axis`, given as a base offset and a stride.
    func forEachLane(axis: Int, _ body: (_ base: Int, _ stride: Int, _ count: Int) -> Void) {
        let (outer, size, inner) = split(at: axis)
        for o in 0..<outer {
            for j in 0..<inner { body(o * size * inner + j, inner, size) }
        }
    }

    /// softmax along an axis as exp(x − max) / Σ exp(x − max); dividing keeps full relative
    /// precision, where exp(log_softmax) would lose digits to the large shift.
    func softmax(axis: Int) -> Tensor {
        var out = self
        out.withUnsafeMutableBufferPointer { p in
            forEachLane(axis: axis) { base, stride, n in
                var largest = -Float.infinity
                for k in 0..<n { largest = Swift.max(largest, p[base + k * stride]) }
                guard let peak = softmaxShift(largest: largest) else {
                    for k in 0..<n { p[base + k * stride] = .nan }
                    return
                }
                var total: Float = 0
                for k in 0..<n {
                    let e = expf(p[base + k * stride] - peak)
                    p[base + k * stride] = e
                    total += e
                }
                let scale = 1 / total
                for k in 0..<n { p[base + k * stride] *= scale }
            }
        }
        return out
    }

    /// log-softmax along an axis: (x − max) − log Σ exp(x − max), stable for any magnitude, rounded
    /// at the result's size (x − (max + log Σ) rounded at the largest logit's, half its ulp).
    func logSoftmax(axis: Int) -> Tensor {
        if axis == rank - 1, count > 0, let n = shape.last, n > 0 {
            // Rows of the last axis (the logits of a classifier or a language model): in C.
            return VectorMath.logSoftmaxRows(self, n: n)
        }
        var out = self
        out.withUnsafeMutableBufferPointer { p in
            forEachLane(axis: axis) { base, stride, n in
                var largest = -Float.infinity
                for k in 0..<n { largest = Swift.max(largest, p[base + k * stride]) }
                guard let peak = softmaxShift(largest: largest) else {
                    for k in 0..<n { p[base + k * stride] = .nan }
                    return
                }
                var total: Float = 0
                for k in 0..<n { total += expf(p[base + k * stride] - peak) }
                let logSum = logf(total)
                for k in 0..<n { p[base + k * stride] = (p[base + k * stride] - peak) - logSum }
            }
        }
        return out
    }
}

extension Variable {
    /// The softmax along `axis`; divide the input by a temperature first to soften it.
    public func softmax(axis: Int = -1) throws -> Variable {
        guard value.rank > 0 else { return Variable.make(Tensor(1), [self], op: .axis("softmax", 0)) { _ in [Tensor(0)] } }
        let ax = try normalizeAxis(axis, rank: value.rank, op: "softmax")
        let out = value.softmax(axis: ax)
        return Variable.make(out, [self], op: .axis("softmax", ax)) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            var gx = g
            gx.withUnsafeMutableBufferPointer { pg in
                out.withUnsafeBufferPointer { py in
                    out.forEachLane(axis: ax) { base, stride, n in
                        var dot: Float = 0
                        for k in 0..<n { dot += pg[base + k * stride] * py[base + k * stride] }
                        for k in 0..<n { pg[base + k * stride] = py[base + k * stride] * (pg[base + k * stride] - dot) }
                    }
                }
            }
            return [gx]
        }
    }

    /// log(softmax(x)) along `axis`, computed directly so it never takes the log of zero.
    public func logSoftmax(axis: Int = -1) throws -> Variable {
        guard value.rank > 0 else {
            return Variable.make(Tensor(0), [self], op: .axis("log_softmax", 0)) { _ in [Tensor(0)] }
        }
        let ax = try normalizeAxis(axis, rank: value.rank, op: "log_softmax")
        let out = value.logSoftmax(axis: ax)
        return Variable.make(out, [self], op: .axis("log_softmax", ax)) { g in
            // dx = g − softmax ⊙ Σ g
            if ax == out.rank - 1, out.count > 0, let n = out.shape.last, n > 0 {
                return [VectorMath.logSoftmaxBackwardRows(g, output: out, n: n)]
            }
            var gx = g
            gx.withUnsafeMutableBufferPointer { pg in
                out.withUnsafeBufferPointer { py in
                    out.forEachLane(axis: ax) { base, stride, n in
                        var total: Float = 0
                        for k in 0..<n { total += pg[base + k * stride] }
                        for k in 0..<n { pg[base + k * stride] -= expf(py[base + k * stride]) * total }
                    }
                }
            }
            return [gx]
        }
    }
}
