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
            // An empty batch's KL per example is 0 / 0, a NaN as PyTorch's and as `mean` gives.
            return try sum() * (1 / Float(batch))
        }
    }
}

/// Loss functions with PyTorch's exact semantics. Inputs are logits unless the name says otherwise.
public enum Loss {
    /// Negative log-likelihood of class indices `target` `[N]` under log-probabilities `[N, C]`.
    ///
    /// Targets equal to `ignoreIndex` (PyTorch's `ignore_index`; Retort's sequences mark positions
    /// past the end with −1) count for nothing; `weight` gives each class's weight, and the mean is
    /// then over the weights of the counted targets, as PyTorch's.
    public static func nll(
        _ logProbabilities: Variable, target targetVariable: Variable, weight: Tensor? = nil, ignoreIndex: Int? = nil,
        reduction: Reduction = .mean, op: String = "nll"
    ) throws -> Variable {
        if logProbabilities.value.rank > 2 {
            // Positions become rows, as cross-entropy's: [N, T, C] with [N, T] is [N·T, C] with [N·T].
            let leading = Array(logProbabilities.shape.dropLast())
            guard targetVariable.shape == leading else {
                throw TensorError(
                    .shape, op,
                    "expected targets \(formatShape(leading)) for log-probabilities \(formatShape(logProbabilities.shape)), got \(formatShape(targetVariable.shape))"
                )
            }
            let rows = leading.reduce(1, *)
            let loss = try nll(
                try logProbabilities.reshaped([rows, logProbabilities.shape[leading.count]]),
                target: try targetVariable.reshaped([rows]), weight: weight, ignoreIndex: ignoreIndex, reduction: reduction,
                op: op)
            return reduction == .none ? try loss.reshaped(leading) : loss
        }
        let logp = logProbabilities.value
        let target = targetVariable.value
        guard logp.rank == 2, target.shape == [logp.shape[0]] else {
            throw TensorError(
                .shape,
                op,
                "expected log-probabilities [N, C] and targets [N], got \(formatShape(logp.shape)) and \(formatShape(target.shape))"
            )
        }
        let (n, classes) = (logp.shape[0], logp.shape[1])
        if let weight, weight.shape != [classes] {
            throw TensorError(.shape, op, "class weights \(formatShape(weight.shape)) do not match \(classes) classes")
        }
        let ignored = ignoreIndex.map(Float.init)
        let labels: [Int] = try target.withUnsafeBufferPointer { t in
            try (0..<n).map { i in
                if let ignored, t[i] == ignored { return -1 }
                let value = t[i]
                guard value == value.rounded(), value >= 0, value < Float(classes) else {
                    throw TensorError(
                        .value, op,
                        "target class \(target.indexProblem(value, below: classes)) at position \(i)\(ignoreIndex.map { " (\($0) is ignored)" } ?? "")"
                    )
                }
                return Int(value)
            }
        }
        let weights = weight?.scalars
        let scale = labels.map { $0 < 0 ? Float(0) : weights?[$0] ?? 1 }
        let picked = logp.withUnsafeBufferPointer { p in
            Tensor(shape: [n]) { out in
                for i in 0..<n { out[i] = labels[i] < 0 ? 0 : -p[i * classes + labels[i]] * scale[i] }
            }
        }
        let perSample = Variable.make(picked, [logProbabilities, targetVariable], op: Op("nll")) { g in
            var gx = Tensor.zeros([n, classes])
            gx.withUnsafeMutableBufferPointer { px in
                g.withUnsafeBufferPointer { pg in
                    for i in 0..<n where labels[i] >= 0 { px[i * classes + labels[i]] = -pg[i] * scale[i] }
                }
            }
            return [gx, nil]
        }
        guard reduction == .mean, weight != nil || ignoreIndex != nil else {
            return try perSample.reduced(reduction, batch: n, op: op)
        }
        // PyTorch's weighted mean: the sum over the counted targets' weights (0 when none count, a
        // NaN as PyTorch gives, so an all-ignored batch is not silently a zero loss).
        let total = scale.reduce(0, +)
        return try perSample.sum() * (1 / total)
    }

    /// Cross-entropy of logits `[..., C]` against class indices `[...]` (the same leading shape:
    /// `[N, C]` with `[N]`, or a sequence model's `[N, T, V]` with `[N, T]`) or probabilities of the
    /// logits' shape, with optional label smoothing (the target mixed with the uniform distribution),
    /// class weights and an ignored label (−1 by default, as Retort's sequences mark positions past
    /// the end; PyTorch's default is −100).
    public static func crossEntropy(
        _ logits: Variable, target: Variable, labelSmoothing: Float = 0, weight: Tensor? = nil, ignoreIndex: Int? = -1,
        reduction: Reduction = .mean
    ) throws -> Variable {
        guard logits.value.rank >= 2 else {
            throw TensorError(.shape, "cross_entropy", "expected logits [N, C] or [N, T, C], got \(formatShape(logits.shape))")
        }
        guard (0...1).contains(labelSmoothing) else {
            throw TensorError(.argument, "cross_entropy", "label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
        let classes = logits.shape[logits.value.rank - 1]
        let leading = Array(logits.shape.dropLast())
        if logits.value.rank > 2 {
            // Positions become rows: [N, T, C] with [N, T] is [N·T, C] with [N·T].
            let rows = leading.reduce(1, *)
            guard target.shape == leading || target.shape == logits.shape else {
                throw TensorError(
                    .shape, "cross_entropy",
                    "target must be class indices \(formatShape(leading)) or probabilities \(formatShape(logits.shape)), got \(formatShape(target.shape))"
                )
            }
            let flatTarget = try target.reshaped(target.shape == leading ? [rows] : [rows, classes])
            let loss = try crossEntropy(
                try logits.reshaped([rows, classes]), target: flatTarget, labelSmoothing: labelSmoothing, weight: weight,
                ignoreIndex: ignoreIndex, reduction: reduction)
            // Unreduced, one loss per position, [N, T] as the labels: masked_mean(loss, y) lines up.
            return reduction == .none ? try loss.reshaped(leading) : loss
        }
        let n = logits.shape[0]
        let logp = try logits.logSoftmax(axis: 1)
        if target.shape == [n] {
            let hard = try nll(
                logp, target: target, weight: weight, ignoreIndex: ignoreIndex, reduction: reduction, op: "cross_entropy")
            guard labelSmoothing > 0 else { return hard }
            guard weight == nil else {
                throw TensorError(
                    .argument, "cross_entropy", "label_smoothing with class weights is not supported; use one or the other")
            }
            // The uniform part counts the same rows the hard part counts.
            let counted = try Variable(target.value.map { ignoreIndex.map(Float.init) == $0 ? 0 : 1 }).reshaped([n, 1])
            let uniform = try (-(try logp * counted)).sum(axes: [1])
            let total = Float(counted.value.scalars.reduce(0, +))
            let reducedUniform =
                reduction == .mean && ignoreIndex != nil
                ? try uniform.sum() * (1 / total) : try uniform.reduced(reduction, batch: n, op: "cross_entropy")
            return try hard * (1 - labelSmoothing) + reducedUniform * (labelSmoothing / Float(classes))
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
        var perRow = -(try soft * logp)
        if let weight { perRow = try perRow * Variable(weight) }
        return try perRow.sum(axes: [1]).reduced(reduction, batch: n, op: "cross_entropy")
    }

    /// Mean squared error.
    public static func mse(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "mse")
        let d = try input - target
        return try (d * d).reduced(reduction, batch: 0, op: "mse")
    }

    /// Mean absolute error.
    public static func l1(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "l1")
        return try (input - target).abs().reduced(reduction, batch: 0, op: "l1")
    }

    /// KL(target ‖ q) where `input` holds log q and `target` holds probabilities p:
    /// Σ p · (log p − log q), with 0 · log 0 = 0. `batchmean` divides by the batch size, which is
    /// what the definition of KL asks for; PyTorch's `mean` divides by every element instead.
    public static func klDiv(_ input: Variable, _ target: Variable, reduction: Reduction = .mean) throws -> Variable {
        try checkSameShape(input, target, op: "kl_div")
        let (logq, p) = (input.value, target.value)
        // A negative target probability has no log: NaN, as PyTorch's (it gave a finite value).
        let pointwise = p.zip3(logq, logq) { pi, lq, _ in pi > 0 ? pi * (logf(pi) - lq) : pi < 0 ? .nan : 0 - pi * lq }
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
        try checkSameShape(logits, target, op: "bce_with_logits")
        let (x, y) = (logits.value, target.value)
        let pointwise = x.zip3(y, y) { xi, yi, _ in
            guard xi.isInfinite else { return Swift.max(xi, 0) - xi * yi + log1pf(expf(-Swift.abs(xi))) }
            // The limit at an infinite logit is c·|x|, c = 1 − y at +∞ and y at −∞: +∞ for a wrong
            // hard target, 0 for a right one (the formula gave ∞ − ∞ or ∞ · 0, a NaN).
            let c = xi > 0 ? 1 - yi : yi
            return c == 0 ? 0 : c * .infinity
        }
        let v = Variable.make(pointwise, [logits, target], op: Op("bce_with_logits_pointwise")) { g in
            [x.zip3(y, g) { xi, yi, gi in gi * (sigmoidScalar(xi) - yi) }, try! -(g * x)]
        }
        return try v.reduced(reduction, batch: 0, op: "bce_with_logits")
    }

    /// Cosine similarity along `axis`: a·b / (max(‖a‖, ε) · max(‖b‖, ε)).
    public static func cosineSimilarity(_ a: Variable, _ b: Variable, axis: Int = 1, eps: Float = 1e-8) throws -> Variable {
        let rank = Swift.max(a.value.rank, b.value.rank)
        guard (-rank..<Swift.max(rank, 1)).contains(axis) else {
            throw TensorError(
                .shape, "cosine_similarity",
                "axis \(axis) is out of range for \(formatShape(a.shape)) and \(formatShape(b.shape))"
                    + (rank == 1 ? " (of two vectors: axis: 0)" : ""))
        }
        let ab = try (a * b).sum(axes: [axis])
        return try ab / (clampedNorm(a, axes: [axis], eps: eps) * clampedNorm(b, axes: [axis], eps: eps))
    }

    /// max(‖x‖, ε) over `axes`, as √max(Σx², ε²): the same value, and a row of zeros gets the
    /// gradient PyTorch's norm gives it (0 through the clamp), where √ first and the clamp after
    /// multiplied √'s infinite slope at 0 by the clamp's 0, a NaN.
    public static func clampedNorm(_ x: Variable, axes: [Int], keepDims: Bool = false, eps: Float) throws -> Variable {
        try (x * x).sum(axes: axes, keepDims: keepDims).clamp(min: eps * eps, max: nil).sqrt()
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
