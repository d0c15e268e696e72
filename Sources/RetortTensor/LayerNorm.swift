import Foundation

extension Normalization {
    /// Layer normalisation as one primitive with its own derivative, for the usual case: the
    /// normalised dimensions are the trailing ones (contiguous lanes of `size` values) and the weight
    /// and bias, when present, have exactly those dimensions. Two passes over each lane forward
    /// (mean, then variance of the centred values), one backward; the composite in
    /// `Normalization.layerNorm` takes about nine primitives each way and allocates for each.
    ///
    /// The derivative, with x̂ the normalised lane, r = 1/√(var + eps) and ĝ = g ⊙ weight:
    /// dx = r · (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂)), dweight = Σ g ⊙ x̂, dbias = Σ g over the lanes.
    static func fusedLayerNorm(_ x: Variable, size: Int, weight: Variable?, bias: Variable?, eps: Float, op: Op)
        -> Variable
    {
        let lanes = size == 0 ? 0 : x.value.count / size
        var normalized = Tensor(shape: x.shape, repeating: 0)
        var reciprocals = [Float](repeating: 0, count: lanes)
        var out = Tensor(shape: x.shape, repeating: 0)
        // Lanes are independent, so they are shared out over Parallel's threads: the same bits at
        // any count.
        let cost = lanes * size * 8
        x.value.withUnsafeBufferPointer { px in
            normalized.withUnsafeMutableBufferPointer { pn in
                out.withUnsafeMutableBufferPointer { po in
                    reciprocals.withUnsafeMutableBufferPointer { pr in
                        let pw = weight?.value, pb = bias?.value
                        Parallel.forEach(lanes, cost: cost) { mine in
                            for lane in mine {
                                let base = lane * size
                                var sum: Float = 0
                                for k in 0..<size { sum += px[base + k] }
                                let mean = sum / Float(size)
                                var squares: Float = 0
                                for k in 0..<size {
                                    let d = px[base + k] - mean
                                    squares += d * d
                                }
                                let r = 1 / (squares / Float(size) + eps).squareRoot()
                                pr[lane] = r
                                for k in 0..<size { pn[base + k] = (px[base + k] - mean) * r }
                                for k in 0..<size { po[base + k] = pn[base + k] }
                                pw?.withUnsafeBufferPointer { w in for k in 0..<size { po[base + k] *= w[k] } }
                                pb?.withUnsafeBufferPointer { b in for k in 0..<size { po[base + k] += b[k] } }
                            }
                        }
                    }
                }
            }
        }
        let parents = [x] + [weight, bias].compactMap { $0 }
        let normalizedLanes = normalized, laneReciprocals = reciprocals
        return Variable.make(out, parents, op: op) { g in
            var gx = Tensor(shape: g.shape, repeating: 0)
            var gw = weight.map { Tensor(shape: $0.shape, repeating: 0) }
            var gb = bias.map { Tensor(shape: $0.shape, repeating: 0) }
            let w = weight?.value
            g.withUnsafeBufferPointer { pg in
                normalizedLanes.withUnsafeBufferPointer { pn in
                    gx.withUnsafeMutableBufferPointer { pdx in
                        Parallel.forEach(lanes, cost: cost) { mine in
                            var scaled = [Float](repeating: 0, count: size)
                            for lane in mine {
                                let base = lane * size
                                if let w {
                                    w.withUnsafeBufferPointer { pw in for k in 0..<size { scaled[k] = pg[base + k] * pw[k] } }
                                } else {
                                    for k in 0..<size { scaled[k] = pg[base + k] }
                                }
                                var sum: Float = 0
                                var dot: Float = 0
                                for k in 0..<size {
                                    sum += scaled[k]
                                    dot += scaled[k] * pn[base + k]
                                }
                                let meanScaled = sum / Float(size), meanDot = dot / Float(size)
                                let r = laneReciprocals[lane]
                                for k in 0..<size { pdx[base + k] = r * (scaled[k] - meanScaled - pn[base + k] * meanDot) }
                            }
                        }
                    }
                    // The weight's and bias's gradients sum over the lanes, each feature's in lane
                    // order whichever thread owns the feature.
                    gw?.withUnsafeMutableBufferPointer { dw in
                        Parallel.forEach(size, cost: cost / 4) { features in
                            for lane in 0..<lanes {
                                for k in features { dw[k] += pg[lane * size + k] * pn[lane * size + k] }
                            }
                        }
                    }
                    gb?.withUnsafeMutableBufferPointer { db in
                        Parallel.forEach(size, cost: cost / 4) { features in
                            for lane in 0..<lanes { for k in features { db[k] += pg[lane * size + k] } }
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
