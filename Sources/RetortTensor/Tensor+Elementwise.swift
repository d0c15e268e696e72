import Foundation

extension Tensor {
    /// Applies `f` to every element.
    @inlinable
    public func map(_ f: (Float) -> Float) -> Tensor {
        withUnsafeBufferPointer { a in
            Tensor(shape: shape) { out in
                for i in 0..<a.count { out[i] = f(a[i]) }
            }
        }
    }

    /// Combines two tensors elementwise with broadcasting; `op` names the operation in errors.
    @inlinable
    public func zip(_ other: Tensor, op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
        if shape == other.shape {
            return withUnsafeBufferPointer { a in
                other.withUnsafeBufferPointer { b in
                    Tensor(shape: shape) { out in
                        for i in 0..<a.count { out[i] = f(a[i], b[i]) }
                    }
                }
            }
        }
        let outShape = try broadcastShape(shape, other.shape, op: op)
        if other.count == 1 && outShape == shape {
            let s = other.storage.pointer[0]
            return map { f($0, s) }
        }
        if count == 1 && outShape == other.shape {
            let s = storage.pointer[0]
            return other.map { f(s, $0) }
        }
        let stridesA = broadcastStrides(shape, to: outShape)
        let stridesB = broadcastStrides(other.shape, to: outShape)
        return withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                Tensor(shape: outShape) { out in
                    forEachBroadcastRun(shape: outShape, stridesA: stridesA, stridesB: stridesB) {
                        o, offA, offB, n, sa, sb in
                        for j in 0..<n { out[o + j] = f(a[offA + j * sa], b[offB + j * sb]) }
                    }
                }
            }
        }
    }

    /// Combines three tensors of one shape elementwise (no broadcasting; internal to backward passes).
    @inlinable
    func zip3(_ b: Tensor, _ c: Tensor, _ f: (Float, Float, Float) -> Float) -> Tensor {
        precondition(shape == b.shape && shape == c.shape, "zip3 needs equal shapes")
        return withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeBufferPointer { pc in
                    Tensor(shape: shape) { out in
                        for i in 0..<pa.count { out[i] = f(pa[i], pb[i], pc[i]) }
                    }
                }
            }
        }
    }

    /// Adds `other * scale` into this tensor in place; shapes must match (internal accumulation).
    @inlinable
    mutating func addInPlace(_ other: Tensor, scale: Float = 1) {
        precondition(shape == other.shape, "addInPlace needs equal shapes")
        withUnsafeMutableBufferPointer { out in
            other.withUnsafeBufferPointer { b in
                Tensor.elementwiseBlocks(out.count) { r in
                    for i in r { out[i] += scale * b[i] }
                }
            }
        }
    }

    /// Whether a sum, difference, product or quotient of two tensors of one shape, and the
    /// gradients' accumulation, are split over Parallel's threads (on by default); off to compare in
    /// one process (`retort bench --ab elementwise-blocks`). Split, each thread reads and writes the
    /// rows that the ops before and after it give it (`Parallel.forEachBlock`): on one thread, the
    /// other's half of every residual sum and gradient crossed from core to core and back.
    nonisolated(unsafe) public static var splitsElementwise = true

    /// `Parallel.forEachBlock` over `count` values for a loop of a few operations a value, when
    /// `splitsElementwise`; else one call over them all.
    @inlinable
    static func elementwiseBlocks(_ count: Int, _ body: (Range<Int>) -> Void) {
        guard splitsElementwise else { return body(0..<count) }
        Parallel.forEachBlock(count, cost: count * 2, body)
    }
}

// Arithmetic with broadcasting. These throw on incompatible shapes.
extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else { return try a.zip(b, op: "add", +) }
        return a.sameShape(b) { a, b, out, r in for i in r { out[i] = a[i] + b[i] } }
    }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else { return try a.zip(b, op: "sub", -) }
        return a.sameShape(b) { a, b, out, r in for i in r { out[i] = a[i] - b[i] } }
    }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else { return try a.zip(b, op: "mul", *) }
        return a.sameShape(b) { a, b, out, r in for i in r { out[i] = a[i] * b[i] } }
    }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        guard a.shape == b.shape else { return try a.zip(b, op: "div", /) }
        return a.sameShape(b) { a, b, out, r in for i in r { out[i] = a[i] / b[i] } }
    }

    /// A tensor of this shape from `loop` over ranges of the two tensors' values (`elementwiseBlocks`):
    /// each operator passes its own loop, so the loop is compiled (and vectorised) with its operation.
    @inlinable
    func sameShape(
        _ other: Tensor,
        _ loop: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>, UnsafeMutableBufferPointer<Float>, Range<Int>)
            -> Void
    ) -> Tensor {
        withUnsafeBufferPointer { a in
            other.withUnsafeBufferPointer { b in
                Tensor(shape: shape) { out in Tensor.elementwiseBlocks(a.count) { r in loop(a, b, out, r) } }
            }
        }
    }
    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static prefix func - (a: Tensor) -> Tensor { a.map { -$0 } }

    public func pow(_ exponent: Tensor) throws -> Tensor { try zip(exponent, op: "pow", Foundation.powf) }
    /// `self % divisor` as Python's and `torch.remainder`: exact (fmod), then moved into the
    /// divisor's sign.
    public func remainder(_ divisor: Tensor) throws -> Tensor {
        try zip(divisor, op: "%") { a, b in
            let r = fmodf(a, b)
            return r != 0 && (r < 0) != (b < 0) ? r + b : r
        }
    }
    /// The larger of two values elementwise; NaN in either gives NaN, as `torch.maximum` and
    /// `np.maximum` (Swift.max would return the other value when the second is NaN).
    public func maximum(_ other: Tensor) throws -> Tensor {
        try zip(other, op: "maximum") { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }
    }
    /// The smaller of two values elementwise; NaN in either gives NaN.
    public func minimum(_ other: Tensor) throws -> Tensor {
        try zip(other, op: "minimum") { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }
    }

    public func exp() -> Tensor { map(expf) }
    public func log() -> Tensor { map(logf) }
    public func sqrt() -> Tensor { map(sqrtf) }
    public func abs() -> Tensor { map(Swift.abs) }
    public func tanh() -> Tensor { map(tanhf) }
    public func sigmoid() -> Tensor { map(sigmoidScalar) }
    /// max(x, 0) as `torch.relu`: negatives become 0, while NaN (and -0) pass through, so a NaN
    /// is never hidden. In C, split over Parallel's threads (`VectorMath.relu`).
    public func relu() -> Tensor { VectorMath.relu(self) }
    public func clamp(min lower: Float?, max upper: Float?) -> Tensor {
        map { x in
            var y = x
            if let lower, y < lower { y = lower }
            if let upper, y > upper { y = upper }
            return y
        }
    }
}

/// The logistic function, stable for large |x|.
@inlinable
public func sigmoidScalar(_ x: Float) -> Float {
    if x >= 0 { return 1 / (1 + expf(-x)) }
    let e = expf(x)
    return e / (1 + e)
}

/// Comparisons give 1 where true and 0 where false, with broadcasting.
public enum Comparison: String, CaseIterable, Sendable {
    case eq, ne, lt, le, gt, ge

    @inlinable
    public func holds(_ a: Float, _ b: Float) -> Bool {
        switch self {
        case .eq: return a == b
        case .ne: return a != b
        case .lt: return a < b
        case .le: return a <= b
        case .gt: return a > b
        case .ge: return a >= b
        }
    }
}

extension Tensor {
    public func compare(_ other: Tensor, _ comparison: Comparison) throws -> Tensor {
        try zip(other, op: comparison.rawValue) { comparison.holds($0, $1) ? 1 : 0 }
    }

    /// Picks from `a` where this mask is non-zero and from `b` elsewhere, broadcasting all three.
    public func select(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shapeAB = try broadcastShape(a.shape, b.shape, op: "where")
        let outShape = try broadcastShape(shape, shapeAB, op: "where")
        let mask = try expanded(to: outShape)
        let ea = try a.expanded(to: outShape)
        let eb = try b.expanded(to: outShape)
        return mask.zip3(ea, eb) { m, x, y in m != 0 ? x : y }
    }
}
