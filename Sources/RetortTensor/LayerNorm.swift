import Foundation

extension Normalization {
    /// Layer normalisation as one primitive with its own derivative, for the usual case: the
    /// normalised dimensions are the trailing ones (contiguous lanes of `size` values) and the weight
    /// and bias, when present, have exactly those dimensions. Two passes over each lane forward
    /// (mean, then variance of the centred values), one backward, in C (`VectorMath.layerNorm`),
    /// each lane's sums in 8 running sums so the adds do not wait on each other; the composite in
    /// `Normalization.layerNorm` takes about nine primitives each way and allocates for each.
    ///
    /// The derivative, with x̂ the normalised lane, r = 1/√(var + eps) and ĝ = g ⊙ weight:
    /// dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), dweight = Σ g ⊙ x̂, dbias = Σ g over the lanes.
    static func fusedLayerNorm(_ x: Variable, size: Int, weight: Variable?, bias: Variable?, eps: Float, op: Op)
        -> Variable
    {
        let lanes = size == 0 ? 0 : x.value.count / size
        var normalized = Tensor.unfilled(x.shape)
        var reciprocals = [Float](repeating: 0, count: lanes)
        var out = Tensor.unfilled(x.shape)
        // Lanes are independent, so they are shared out over Parallel's threads: the same bits at
        // any count.
        let cost = lanes * size * 8
        x.value.withUnsafeBufferPointer { px in
            normalized.withUnsafeMutableBufferPointer { pn in
                out.withUnsafeMutableBufferPointer { po in
                    reciprocals.withUnsafeMutableBufferPointer { pr in
                        let (pw, pb) = (weight?.value.storage.pointer, bias?.value.storage.pointer)
                        Parallel.forEach(lanes, cost: cost) { mine in
                            VectorMath.layerNorm(
                                px.baseAddress!, lanes: mine, size: size, eps: eps, weight: pw, bias: pb,
                                normalized: pn.baseAddress!, out: po.baseAddress!, reciprocals: pr.baseAddress!)
                        }
                    }
                }
            }
        }
        let parents = [x] + [weight, bias].compactMap { $0 }
        let normalizedLanes = normalized, laneReciprocals = reciprocals
        return Variable.make(out, parents, op: op) { g in
            var gx = Tensor.unfilled(g.shape)
            var gw = weight.map { Tensor.unfilled($0.shape) }  // every feature's sum written below
            var gb = bias.map { Tensor.unfilled($0.shape) }
            let w = weight?.value
            g.withUnsafeBufferPointer { pg in
                normalizedLanes.withUnsafeBufferPointer { pn in
                    gx.withUnsafeMutableBufferPointer { pdx in
                        laneReciprocals.withUnsafeBufferPointer { pr in
                            Parallel.forEach(lanes, cost: cost) { mine in
                                VectorMath.layerNormBackward(
                                    pg.baseAddress!, normalized: pn.baseAddress!, reciprocals: pr.baseAddress!, lanes: mine,
                                    size: size, weight: w?.storage.pointer, into: pdx.baseAddress!)
                            }
                        }
                    }
                    // The weight's and bias's gradients sum over the lanes, each feature's in lane
                    // order whichever thread owns the feature (in C: 64 features' sums in registers).
                    gw?.withUnsafeMutableBufferPointer { dw in
                        Parallel.forEach(size, cost: cost / 4) { features in
                            let at = features.lowerBound
                            VectorMath.columnSums(
                                pg.baseAddress! + at, times: pn.baseAddress! + at, rows: lanes, stride: size,
                                columns: features.count, into: dw.baseAddress! + at)
                        }
                    }
                    gb?.withUnsafeMutableBufferPointer { db in
                        Parallel.forEach(size, cost: cost / 4) { features in
                            let at = features.lowerBound
                            VectorMath.columnSums(
                                pg.baseAddress! + at, times: nil, rows: lanes, stride: size, columns: features.count,
                                into: db.baseAddress! + at)
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gx]
            if let gw { grads.append(gw) }
            if let gb { grads.append(gb) }
            return grads
        }
    }
}
