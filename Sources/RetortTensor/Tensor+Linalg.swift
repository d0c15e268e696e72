extension Tensor {
    /// The matrix product with `torch.matmul` semantics.
    ///
    /// 1-D operands are treated as a row (left) or column (right) vector and that dimension is
    /// dropped from the result; operands of rank 3 or more are stacks of matrices whose leading
    /// (batch) dimensions broadcast.
    public func matmul(_ other: Tensor) throws -> Tensor {
        guard rank > 0, other.rank > 0 else {
            throw TensorError(
                .shape,
                "matmul", "both operands need at least one dimension: \(formatShape(shape)) @ \(formatShape(other.shape))")
        }
        let a = rank == 1 ? withShape([1, shape[0]]) : self
        let b = other.rank == 1 ? other.withShape([other.shape[0], 1]) : other
        let (m, k) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (k2, n) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        guard k == k2 else {
            throw TensorError(.shape, "matmul", "inner dimensions differ: \(formatShape(shape)) @ \(formatShape(other.shape))")
        }
        let batchA = Array(a.shape.dropLast(2))
        let batchB = Array(b.shape.dropLast(2))
        let batch: [Int]
        do {
            batch = try broadcastShape(batchA, batchB, op: "matmul")
        } catch {
            throw TensorError(
                .shape,
                "matmul", "batch dimensions cannot be broadcast: \(formatShape(shape)) @ \(formatShape(other.shape))")
        }
        try MemoryBudget.check("matmul", batch + [m, n])
        var result = Tensor.zeros(batch + [m, n])
        if batch.isEmpty && m * n * k > Cancellation.blockWork {
            try Tensor.blockedGemm(a, b, into: &result, m: m, n: n, k: k)
        } else {
            Tensor.batchedGemm(a, b, into: &result, batch: batch, m: m, n: n, k: k)
        }
        var outShape = batch
        if rank > 1 { outShape.append(m) }
        if other.rank > 1 { outShape.append(n) }
        return result.withShape(outShape)
    }

    /// A large matrix product in blocks of rows, polling for an interrupt between blocks, so a
    /// product that takes minutes can still be stopped.
    static func blockedGemm(_ a: Tensor, _ b: Tensor, into c: inout Tensor, m: Int, n: Int, k: Int) throws {
        let rowsPerBlock = Swift.max(1, Cancellation.blockWork / Swift.max(n * k, 1))
        try a.withUnsafeBufferPointer { pa in
            try b.withUnsafeBufferPointer { pb in
                try c.withUnsafeMutableBufferPointer { pc in
                    var row = 0
                    while row < m {
                        if Cancellation.isRequested() { throw Cancellation.Stopped(op: "matmul") }
                        let rows = Swift.min(rowsPerBlock, m - row)
                        BLAS.gemm(
                            m: rows, n: n, k: k, a: pa.baseAddress! + row * k, b: pb.baseAddress!,
                            c: pc.baseAddress! + row * n)
                        row += rows
                    }
                }
            }
        }
    }

    /// One GEMM per batch element, reading each operand through its broadcast batch strides.
    static func batchedGemm(_ a: Tensor, _ b: Tensor, into c: inout Tensor, batch: [Int], m: Int, n: Int, k: Int) {
        let batchCount = batch.reduce(1, *)
        let stridesA = broadcastStrides(Array(a.shape.dropLast(2)), to: batch).map { $0 * m * k }
        let stridesB = broadcastStrides(Array(b.shape.dropLast(2)), to: batch).map { $0 * k * n }
        let batchStrides = contiguousStrides(batch)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    for index in 0..<batchCount {
                        var offA = 0
                        var offB = 0
                        var rest = index
                        for d in 0..<batch.count {
                            let coordinate = rest / batchStrides[d]
                            rest %= batchStrides[d]
                            offA += coordinate * stridesA[d]
                            offB += coordinate * stridesB[d]
                        }
                        BLAS.gemm(
                            m: m, n: n, k: k, a: pa.baseAddress! + offA, b: pb.baseAddress! + offB,
                            c: pc.baseAddress! + index * m * n)
                    }
                }
            }
        }
    }
}
