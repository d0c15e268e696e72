extension Variable {
    /// The same elements in a new shape (one dimension may be -1).
    public func reshaped(_ newShape: [Int]) throws -> Variable {
        let inputShape = shape
        let out = try value.reshaped(newShape)
        return Variable.make(out, [self], op: Op("reshape", [("shape", .ints(out.shape))])) { g in [g.withShape(inputShape)] }
    }

    /// All but the first axis flattened into one.
    public func flattened(from axis: Int = 1) throws -> Variable {
        let ax = try normalizeAxis(axis, rank: value.rank, op: "flatten")
        let inputShape = shape
        let out = value.withShape(Array(shape[..<ax]) + [shape[ax...].reduce(1, *)])
        return Variable.make(out, [self], op: .axis("flatten", ax)) { g in [g.withShape(inputShape)] }
    }

    /// Axes reordered: result axis `i` is this variable's axis `dims[i]`.
    public func permuted(_ dims: [Int]) throws -> Variable {
        let resolved = try value.resolvePermutation(dims)
        var inverse = [Int](repeating: 0, count: resolved.count)
        for (i, d) in resolved.enumerated() { inverse[d] = i }
        return Variable.make(try value.permuted(resolved), [self], op: Op("permute", [("dims", .ints(resolved))])) { g in
            [try! g.permuted(inverse)]
        }
    }

    /// Two axes swapped (the last two by default).
    public func transposed(_ dim0: Int = -2, _ dim1: Int = -1) throws -> Variable {
        if value.rank < 2 { return try Variable.make(value.transposed(dim0, dim1), [self], op: Op("identity")) { g in [g] } }
        let a = try normalizeAxis(dim0, rank: value.rank, op: "transpose")
        let b = try normalizeAxis(dim1, rank: value.rank, op: "transpose")
        var dims = Array(0..<value.rank)
        dims.swapAt(a, b)
        return try permuted(dims)
    }

    /// Python-style slicing, one range per leading axis.
    public func sliced(_ ranges: [SliceRange]) throws -> Variable {
        let geometry = try value.sliceGeometry(ranges)
        let inputShape = shape
        let out = value.stridedGather(base: geometry.base, strides: geometry.strides, outShape: geometry.shape)
        return Variable.make(out, [self], op: .slice(ranges, of: inputShape)) { g in
            [Tensor.stridedScatter(g, into: inputShape, base: geometry.base, strides: geometry.strides)]
        }
    }

    /// The sub-tensor at `index` along `axis`, that axis removed.
    public func selecting(axis: Int, index: Int) throws -> Variable {
        guard value.rank > 0 else { throw TensorError(.argument, "select", "cannot index a scalar") }
        let ax = try normalizeAxis(axis, rank: value.rank, op: "select")
        let i = try value.resolveIndex(index, axis: ax, op: "select")
        var ranges = [SliceRange](repeating: SliceRange(), count: ax + 1)
        ranges[ax] = SliceRange(start: i, end: i + 1)
        var outShape = shape
        outShape.remove(at: ax)
        return try sliced(ranges).reshaped(outShape)
    }

    /// Variables joined along an existing axis.
    public static func concat(_ parts: [Variable], axis: Int) throws -> Variable {
        let out = try Tensor.concat(parts.map(\.value), axis: axis)
        let ax = try normalizeAxis(axis, rank: out.rank, op: "concat")
        let sizes = parts.map { $0.shape[ax] }
        return make(out, parts, op: .axis("concat", ax)) { g in
            var start = 0
            var grads: [Tensor?] = []
            var ranges = [SliceRange](repeating: SliceRange(), count: ax + 1)
            for size in sizes {
                ranges[ax] = SliceRange(start: start, end: start + size)
                grads.append(try! g.sliced(ranges))
                start += size
            }
            return grads
        }
    }

    /// Variables of one shape joined along a new axis.
    public static func stack(_ parts: [Variable], axis: Int) throws -> Variable {
        guard let first = parts.first else { throw TensorError(.argument, "stack", "needs at least one tensor") }
        for p in parts where p.shape != first.shape {
            throw TensorError(.shape, "stack", "shapes differ: \(formatShape(first.shape)) and \(formatShape(p.shape))")
        }
        let ax = try normalizeAxis(axis, rank: first.value.rank + 1, op: "stack")
        var expanded = first.shape
        expanded.insert(1, at: ax)
        return try concat(parts.map { try $0.reshaped(expanded) }, axis: ax)
    }

    /// PyTorch's `gather` along `axis` with a tensor of whole-number indices.
    public func gathered(axis: Int, index: Variable) throws -> Variable {
        let ax = try normalizeAxis(axis, rank: value.rank, op: "gather")
        let indices = index.value
        let out = try value.gathered(axis: ax, index: indices)
        let inputShape = shape
        return Variable.make(out, [self, index], op: .axis("gather", ax)) { g in
            [Tensor.scatterAlong(axis: ax, index: indices, source: g, shape: inputShape), nil]
        }
    }

    /// The value stretched to `target` by broadcasting.
    public func expanded(to target: [Int]) throws -> Variable {
        let inputShape = shape
        let out = try value.expanded(to: target)
        return Variable.make(out, [self], op: Op("expand", [("shape", .ints(out.shape))])) { g in
            [g.summed(toShape: inputShape)]
        }
    }
}
