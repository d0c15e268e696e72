import Foundation

/// How a loss turns per-element values into its result, as in PyTorch.
public enum Reduction: String, CaseIterable, Sendable {
    case none, mean, sum
    /// Sum divided by the batch size (the first dimension): the mathematically correct KL mean.
    case batchmean
}

extension Variable {
    /// Applies a reduction to per-element losses; `batch` is the batch size for `batchmean`.
    func reduced(_ reduction: Reduction, batch: Int, op: String) throws -> Variable {
        switch reduction {
        case .none: return self
        case .sum: return try sum()
        case .mean: return try mean()
        case .batchmean:
            guard op == "kl_div" else { throw TensorError(.argument, op, "reduction 'batchmean' applies only to kl_div") }
            return try sum() * (1 / Float(Swift.max(batch, 1)))
        }
    }
}

/// Loss functions with PyTorch's exact semantics. Inputs are logits unless the name says otherwise.
public enum Loss {
    /// Negative log-likelihood of class indices `target` `[N]` under log-probabilities `[N, C]`.
    public static func nll(_ logProbabilities: Variable, target targetVariable: Variable, reduction: Reduction = .mean) throws
        -> Variable
    {
        let logp = logProbabilities.value
        let target = targetVariable.value
        guard logp.rank == 2, target.shape == [logp.shape[0]] else {
            throw TensorError(
                .shape,
                "nll_loss",
                "expected log-probabilities [N, C] and targets [N], got \(formatShape(logp.shape)) and \(formatShape(target.shape))"
            )
        }
        let (n, classes) = (logp.shape[0], logp.shape[1])
        let labels = try target.integerIndices(op: "nll_loss", below: classes, what: "target class")
        let picked = logp.withUnsafeBufferPointer { p in
            Tensor(shape: [n]) { out in
                for i in 0..<n { out[i] = -p[i * classes + labels[i]] }
            }
        }
        let perSample = Variable.make(picked, [logProbabilities, targetVariable], op: Op("nll")) { g in
            var gx = Tensor.zeros([n, classes])
            gx.withUnsafeMutableBufferPointer { px in
                g.withUnsafeBufferPointer { pg in
                    for i in 0..<n { px[i * classes + labels[i]] = -pg[i] }
                }
            }
            return [gx, nil]
        }
        return try perSample.reduced(reduction, batch: n, op: "nll_loss")
    }

    /// Cross-entropy of logits `[N, C]` against class indices `[N]` or probabilities `[N, C]`,
    /// with optional label smoothing (the target mixed with the uniform distribution).
    public static func crossEntropy(
        _ logits: Variable, target: Variable, labelSmoothing: Float = 0, reduction: Reduction = .mean
    ) throws -> Variable {
        guard logits.value.rank == 2 else {
            throw TensorError(.shape, "cross_entropy", "expected logits [N, C], got \(formatShape(logits.shape))")
        }
        guard (0...1).contains(labelSmoothing) else {
            throw TensorError(.argument, "cross_entropy", "label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
        let (n, classes) = (logits.shape[0], logits.shape[1])
        let logp = try logits.logSoftmax(axis: 1)
        if target.shape == [n] {
            let hard = try nll(logp, target: target, reduction: reduction)
            guard labelSmoothing > 0 else { return hard }
            let uniform = try (-logp).sum(axes: [1]).reduced(reduction, batch: n, op: "cross_entropy") * (1 / Float(classes))
            return try hard * (1 - labelSmoothing) + uniform * labelSmoothing
        }
        guard target.shape == logits.shape else {
            throw TensorError(
                .shape,
                "cross_entropy",
                "target must be class indices [\(n)] or probabilities \(formatShape(logits.shape)), got \(formatShape(target.shape))"
            )
        }
        var soft = target
        if labelSmoothing > 0 { soft = soft * (1 - labelSmoothing) + labelSmoothing / Float(classes) }
        return try (-(try soft * logp)).sum(axes: [1]).reduced(reduction, batch: n, op: "cross_entropy")
    }

    /// Mean squared error.
    public static func mse(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "mse_loss")
        let d = try input - target
        return try (d * d).reduced(reduction, batch: 0, op: "mse_loss")
    }

    /// Mean absolute error.
    public static func l1(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "l1_loss")
        return try (input - target).abs().reduced(reduction, batch: 0, op: "l1_loss")
    }

    /// KL(target ‖ q) where `input` holds log q and `target` holds probabilities p:
    /// Σ p · (log p − log q), with 0 · log 0 = 0. `batchmean` divides by the batch size, which is
    /// what the definition of KL asks for; PyTorch's `mean` divides by every element instead.
    public static func klDiv(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "kl_div")
        let (logq, p) = (input.value, target.value)
        let pointwise = p.zip3(logq, logq) { pi, lq, _ in pi > 0 ? pi * (logf(pi) - lq) : 0 - pi * lq }
        let v = Variable.make(pointwise, [input, target], op: Op("kl_div_pointwise")) { g in
            [
                try! -(g * p),
                p.zip3(logq, g) { pi, lq, gi in pi > 0 ? gi * (logf(pi) + 1 - lq) : 0 },
            ]
        }
        return try v.reduced(reduction, batch: input.value.rank > 0 ? input.shape[0] : 1, op: "kl_div")
    }

    /// Binary cross-entropy on logits, computed stably: max(x, 0) − x·y + log(1 + e^−|x|).
    public static func binaryCrossEntropyWithLogits(_ logits: Variable, _ target: Variable, reduction: Reduction = .mean) throws
        -> Variable
    {
        try checkSameShape(logits, target, op: "binary_cross_entropy_with_logits")
        let (x, y) = (logits.value, target.value)
        let pointwise = x.zip3(y, y) { xi, yi, _ in Swift.max(xi, 0) - xi * yi + log1pf(expf(-Swift.abs(xi))) }
        let v = Variable.make(pointwise, [logits, target], op: Op("bce_with_logits_pointwise")) { g in
            [x.zip3(y, g) { xi, yi, gi in gi * (sigmoidScalar(xi) - yi) }, try! -(g * x)]
        }
        return try v.reduced(reduction, batch: 0, op: "binary_cross_entropy_with_logits")
    }

    /// Cosine similarity along `axis`: a·b / (max(‖a‖, ε) · max(‖b‖, ε)).
    public static func cosineSimilarity(_ a: Variable, _ b: Variable, axis: Int = 1, eps: Float = 1e-8) throws -> Variable {
        let ab = try (a * b).sum(axes: [axis])
        let na = try (a * a).sum(axes: [axis]).sqrt().clamp(min: eps, max: nil)
        let nb = try (b * b).sum(axes: [axis]).sqrt().clamp(min: eps, max: nil)
        return try ab / (na * nb)
    }

    static func checkSameShape(_ a: Variable, _ b: Variable, op: String) throws {
        guard a.shape == b.shape else {
            throw TensorError(.shape, op, "input and target shapes differ: \(formatShape(a.shape)) and \(formatShape(b.shape))")
        }
    }
}

extension Variable {
    public static func - (a: Variable, s: Float) -> Variable { a + (-s) }
    public static func * (s: Float, a: Variable) -> Variable { a * s }
}
