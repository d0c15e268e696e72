extension Variable {
    /// Rows of `weight` `[V, d]` picked by whole-number `ids` of any shape: `[..., d]`, as
    /// `F.embedding`. The gradient scatter-adds into the picked rows (an id used twice gets both
    /// contributions); the ids get none.
    public static func embedding(_ weight: Variable, ids: Variable) throws -> Variable {
        let w = weight.value
        guard w.rank == 2 else {
            throw TensorError(.shape, "embedding", "weight must be [vocabulary, width], got \(formatShape(w.shape))")
        }
        let (rows, width) = (w.shape[0], w.shape[1])
        let indices = try ids.value.integerIndices(op: "embedding", below: rows, what: "id")
        let outShape = ids.shape + [width]
        try MemoryBudget.check("embedding", outShape)
        let out = w.withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { dst in
                for (row, i) in indices.enumerated() {
                    (dst.baseAddress! + row * width).update(from: src.baseAddress! + i * width, count: width)
                }
            }
        }
        return make(out, [weight, ids], op: Op("embedding")) { g in
            var gw = Tensor.zeros([rows, width])
            gw.withUnsafeMutableBufferPointer { pw in
                g.withUnsafeBufferPointer { pg in
                    for (row, i) in indices.enumerated() {
                        let source = pg.baseAddress! + row * width
                        let target = pw.baseAddress! + i * width
                        for j in 0..<width { target[j] += source[j] }
                    }
                }
            }
            return [gw, nil]
        }
    }
}
