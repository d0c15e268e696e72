import Foundation

// Elementwise primitives: each forward sits beside its backward. Binary backwards un-broadcast
// by summing the gradient down to each operand's shape.
extension Variable {
    public static func + (a: Variable, b: Variable) throws -> Variable {
        let out = try a.value + b.value
        return make(out, [a, b], op: .add) { g in [g.summed(toShape: a.shape), g.summed(toShape: b.shape)] }
    }

    public static func - (a: Variable, b: Variable) throws -> Variable {
        let out = try a.value - b.value
        return make(out, [a, b], op: .sub) { g in [g.summed(toShape: a.shape), (-g).summed(toShape: b.shape)] }
    }

    public static func * (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let out = try x * y
        return make(out, [a, b], op: .mul) { g in
            [
                a.requiresGrad ? try! (g * y).summed(toShape: x.shape) : nil,
                b.requiresGrad ? try! (g * x).summed(toShape: y.shape) : nil,
            ]
        }
    }

    public static func / (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let out = try x / y
        return make(out, [a, b], op: .div) { g in
            [
                a.requiresGrad ? try! (g / y).summed(toShape: x.shape) : nil,
                b.requiresGrad ? try! (-(g * out) / y).summed(toShape: y.shape) : nil,
            ]
        }
    }

    public static prefix func - (a: Variable) -> Variable {
        make(-a.value, [a], op: .neg) { g in [-g] }
    }

    /// `a` raised to `b`, elementwise with broadcasting.
    public func pow(_ exponent: Variable) throws -> Variable {
        let (x, e) = (value, exponent.value)
        let out = try x.pow(e)
        return Variable.make(out, [self, exponent], op: .pow) { g in
            // e · x^(e−1), 0 where e is 0 as PyTorch's (at x = 0 it was 0 · ∞, a NaN: (1 − p)^0).
            let gx: Tensor? =
                self.requiresGrad
                ? try! (g * x.zip(e, op: "pow") { b, p in p == 0 ? 0 : p * powf(b, p - 1) }).summed(toShape: x.shape) : nil
            // d/de x^e = x^e · log x; PyTorch defines it as 0 where x is 0 and e ≥ 0 (x^e finite
            // there), and it is −∞ where e < 0.
            let ge: Tensor? =
                exponent.requiresGrad
                ? try! (g * out.zip(x, op: "pow") { y, b in b == 0 && y.isFinite ? 0 : y * logf(b) }).summed(
                    toShape: e.shape) : nil
            return [gx, ge]
        }
    }

    /// `a % b` elementwise with broadcasting, as `torch.remainder`: the result takes the divisor's
    /// sign (`-7 % 2` is 1), NaN for a divisor of 0. Its gradient is 1 for `a` and −q for `b`, q
    /// the whole quotient the value was made with, (a − a % b) / b, as PyTorch's floor division
    /// (floor(a / b) of the rounded quotient can be one more: 1 % 0.1 is 1 − 9 · 0.1); an infinite
    /// b's quotient is torch's too (−1 where the signs differ, else 0).
    public func remainder(_ divisor: Variable) throws -> Variable {
        let (x, y) = (value, divisor.value)
        let out = try x.remainder(y)
        return Variable.make(out, [self, divisor], op: .remainder) { g in
            [
                self.requiresGrad ? g.summed(toShape: x.shape) : nil,
                divisor.requiresGrad
                    ? try!
                        (g
                        * x.zip(out, op: "%") { a, r in a - r }.zip(y, op: "%") { d, b in
                            // An infinite divisor: the quotient is 0, or −1 where the signs differ (the
                            // value is then infinite, and so is a − a % b); ∞ / ∞ made it NaN.
                            b.isInfinite ? (d.isInfinite ? 1 : 0) : -(d / b).rounded()
                        })
                        .summed(toShape: y.shape) : nil,
            ]
        }
    }

    /// The larger of two values elementwise; at ties the gradient is split evenly, as in PyTorch.
    public func maximum(_ other: Variable) throws -> Variable { try extremum(other, op: "maximum", larger: true) }
    /// The smaller of two values elementwise; at ties the gradient is split evenly.
    public func minimum(_ other: Variable) throws -> Variable { try extremum(other, op: "minimum", larger: false) }

    func extremum(_ other: Variable, op: String, larger: Bool) throws -> Variable {
        let (x, y) = (value, other.value)
        let out = larger ? try x.maximum(y) : try x.minimum(y)
        return Variable.make(out, [self, other], op: Op(op)) { g in
            // PyTorch's rule: a tie splits the gradient, and each side gets it unless it lost, so
            // at a NaN (neither larger nor equal) both do, as the NaN output depends on both.
            func share(_ mine: Float, _ theirs: Float) -> Float {
                mine == theirs ? 0.5 : (larger ? mine < theirs : mine > theirs) ? 0 : 1
            }
            return [
                try! (g * x.zip(y, op: op) { a, b in share(a, b) }).summed(toShape: x.shape),
                try! (g * x.zip(y, op: op) { a, b in share(b, a) }).summed(toShape: y.shape),
            ]
        }
    }

    /// Applies an elementwise function whose derivative is known from input and output.
    @inline(__always)
    func unary(
        _ op: @autoclosure () -> Op, _ forward: (Float) -> Float, derivative: @escaping (_ x: Float, _ y: Float) -> Float
    ) -> Variable {
        let x = value
        let out = x.map(forward)
        return Variable.make(out, [self], op: op()) { g in
            [g.zip3(x, out) { gi, xi, yi in gi * derivative(xi, yi) }]
        }
    }

    public func exp() -> Variable { unary(.exp, expf) { _, y in y } }
    public func log() -> Variable { unary(.log, logf) { x, _ in 1 / x } }
    public func sqrt() -> Variable { unary(.sqrt, sqrtf) { _, y in 0.5 / y } }
    public func cos() -> Variable { unary(Op("cos"), cosf) { x, _ in -sinf(x) } }
    public func sin() -> Variable { unary(Op("sin"), sinf) { x, _ in cosf(x) } }
    public func abs() -> Variable { unary(Op("abs"), Swift.abs) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) } }
    public func tanh() -> Variable { unary(Op("tanh"), tanhf) { _, y in 1 - y * y } }
    public func sigmoid() -> Variable { unary(Op("sigmoid"), sigmoidScalar) { _, y in y * (1 - y) } }
    /// max(x, 0) as `torch.relu` (NaN passes through); written out rather than through `unary`
    /// because it is the hottest activation. The gradient passes where x is not ≤ 0, as PyTorch's
    /// (so also at NaN).
    public func relu() -> Variable {
        let x = value
        return Variable.make(x.relu(), [self], op: .relu) { g in [VectorMath.reluBackward(g, x: x)] }
    }

    public func leakyRelu(slope: Float = 0.01) -> Variable {
        unary(Op("leaky_relu", [("slope", .float(slope))]), { $0 > 0 ? $0 : slope * $0 }) { x, _ in x > 0 ? 1 : slope }
    }

    /// x · sigmoid(x), also called swish.
    public func silu() -> Variable {
        unary(Op("silu"), { $0 * sigmoidScalar($0) }) { x, _ in
            let s = sigmoidScalar(x)
            return s * (1 + x * (1 - s))
        }
    }

    /// The Gaussian error linear unit in its erf form, x · Φ(x), PyTorch's default; erf is a fitted
    /// polynomial within 1.9e-7 (VectorMath), a deliberate difference docs/language.md states.
    public func gelu() -> Variable {
        let x = value
        // Φ(x) is kept for the gradient only when one can be taken (what `make` checks too): erf is
        // the costly part of both passes. Both run in C (VectorMath), where the loops vectorise.
        guard Variable.takesGradient([self]) else {
            return Variable.make(VectorMath.gelu(x), [self], op: Op("gelu")) { _ in [nil] }
        }
        let (out, cdf) = VectorMath.geluKeepingCDF(x)
        return Variable.make(out, [self], op: Op("gelu")) { g in [VectorMath.geluBackward(g, x: x, cdf: cdf)] }
    }

    /// Values limited to [min, max]; the gradient passes where the input lies inside (bounds included).
    public func clamp(min lower: Float?, max upper: Float?) -> Variable {
        let x = value
        let out = x.clamp(min: lower, max: upper)
        let bounds: [(name: String, value: Op.Value)] = [lower.map { ("min", .float($0)) }, upper.map { ("max", .float($0)) }]
            .compactMap { $0 }
        return Variable.make(out, [self], op: Op("clamp", bounds)) { g in
            [g.zip3(x, x) { gi, xi, _ in ((lower.map { xi >= $0 } ?? true) && (upper.map { xi <= $0 } ?? true)) ? gi : 0 }]
        }
    }

    /// Picks from `a` where `condition` is non-zero, else from `b`; the condition gets no gradient.
    public static func select(_ condition: Variable, _ a: Variable, _ b: Variable) throws -> Variable {
        let out = try condition.value.select(a.value, b.value)
        let mask = try condition.value.expanded(to: out.shape)
        return make(out, [condition, a, b], op: Op("where")) { g in
            [
                nil,
                g.zip3(mask, mask) { gi, m, _ in m != 0 ? gi : 0 }.summed(toShape: a.shape),
                g.zip3(mask, mask) { gi, m, _ in m != 0 ? 0 : gi }.summed(toShape: b.shape),
            ]
        }
    }

    /// Elementwise comparison as a 0/1 tensor (no gradient).
    public func compare(_ other: Variable, _ comparison: Comparison) throws -> Variable {
        let out = Variable(try value.compare(other.value, comparison))
        Tape.record(Op("compare", [("comparison", .string(comparison.rawValue))]), inputs: [self, other], output: out)
        return out
    }
}

extension Variable {
    /// A constant variable holding one value, for mixing numbers into expressions.
    public static func scalar(_ value: Float) -> Variable { Variable(Tensor(value)) }

    public static func * (a: Variable, s: Float) -> Variable { make(a.value * s, [a], op: .scale(s)) { g in [g * s] } }
    public static func + (a: Variable, s: Float) -> Variable { make(a.value + s, [a], op: .shift(s)) { g in [g] } }
}
