import RetortTensor

/// Updates parameters from their accumulated gradients.
public protocol Optimizer: AnyObject {
    /// The parameters this optimizer updates.
    var parameters: [Variable] { get }
    /// The learning rate used by the next `step()`; schedules set it.
    var learningRate: Float { get set }
    /// Applies one update from the current gradients (parameters without a gradient are skipped).
    func step()
    /// Applies one update to these parameters only (each must have been included); the others,
    /// whatever gradients they hold, are left alone.
    func step(only selected: [Variable])
    /// Adds parameters not yet updated by this optimizer (an adapter created after the model).
    func include(_ parameters: [Variable])
    /// A parameter's state (moments, momentum) and step count, or nil before its first update.
    func state(of parameter: Variable) -> ParameterState?
    /// Sets a parameter's state, as `load_state_dict` does; the parameter joins if it is new.
    func restore(_ state: ParameterState, for parameter: Variable) throws
}

/// What an optimizer keeps for one parameter, under PyTorch's names (`exp_avg`, `exp_avg_sq`,
/// `momentum_buffer`), with the number of updates it has had.
public struct ParameterState: Equatable {
    public var tensors: [String: Tensor]
    public var step: Int

    public init(tensors: [String: Tensor], step: Int) {
        self.tensors = tensors
        self.step = step
    }

    /// The named tensor, which must have the parameter's shape.
    func tensor(_ name: String, shape: [Int]) throws -> Tensor? {
        guard let t = tensors[name] else { return nil }
        guard t.shape == shape else {
            throw TensorError(
                .shape,
                "optimizer", "the saved \(name) has shape \(formatShape(t.shape)), the parameter \(formatShape(shape))")
        }
        return t
    }
}

extension Optimizer {
    /// Indices into `parameters` of the selected ones.
    func indices(of selected: [Variable]) -> [Int] {
        let wanted = Set(selected.map(ObjectIdentifier.init))
        return parameters.indices.filter { wanted.contains(ObjectIdentifier(parameters[$0])) }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay,
/// following `torch.optim.SGD` (the momentum buffer starts as the first gradient).
public final class SGD: Optimizer {
    public private(set) var parameters: [Variable]
    public var learningRate: Float
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    var velocity: [Tensor?]

    public init(
        _ parameters: [Variable], learningRate: Float, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0
    ) throws {
        guard learningRate >= 0, momentum >= 0, weightDecay >= 0 else {
            throw TensorError(.argument, "sgd", "lr, momentum and weight_decay must be non-negative")
        }
        guard !nesterov || momentum > 0 else { throw TensorError(.argument, "sgd", "nesterov momentum needs momentum > 0") }
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        velocity = Array(repeating: nil, count: parameters.count)
    }

    public func include(_ extra: [Variable]) {
        let known = Set(parameters.map(ObjectIdentifier.init))
        for p in extra where !known.contains(ObjectIdentifier(p)) {
            parameters.append(p)
            velocity.append(nil)
        }
    }

    public func step() { update(Array(parameters.indices)) }
    public func step(only selected: [Variable]) { update(indices(of: selected)) }

    public func state(of parameter: Variable) -> ParameterState? {
        guard let i = indices(of: [parameter]).first, let v = velocity[i] else { return nil }
        return ParameterState(tensors: ["momentum_buffer": v], step: 0)
    }

    public func restore(_ state: ParameterState, for parameter: Variable) throws {
        include([parameter])
        guard let i = indices(of: [parameter]).first else { return }
        velocity[i] = try state.tensor("momentum_buffer", shape: parameter.shape)
    }

    private func update(_ chosen: [Int]) {
        let (lr, mu, wd) = (learningRate, momentum, weightDecay)
        for i in chosen {
            let p = parameters[i]
            guard let grad = p.maskedGradient else { continue }
            defer { p.applyMask() }
            if mu == 0 {
                p.update { value in
                    value.withUnsafeMutableBufferPointer { w in
                        grad.withUnsafeBufferPointer { g in
                            Parallel.forEach(w.count, cost: w.count * 4) { mine in
                                for j in mine { w[j] -= lr * (g[j] + wd * w[j]) }
                            }
                        }
                    }
                }
                continue
            }
            let first = velocity[i] == nil
            var v = velocity[i] ?? Tensor.zeros(grad.shape)
            velocity[i] = nil  // keep the buffer uniquely referenced so it is updated in place
            p.update { value in
                value.withUnsafeMutableBufferPointer { w in
                    v.withUnsafeMutableBufferPointer { b in
                        grad.withUnsafeBufferPointer { g in
                            // Each value's update is its own: split over Parallel's threads for
                            // large parameters, the same bits at any count.
                            // In C (VectorMath): the Swift loop stayed scalar (12% of mlp-784's step).
                            Parallel.forEach(w.count, cost: w.count * 6) { mine in
                                VectorMath.sgdMomentum(
                                    w.baseAddress!, velocity: b.baseAddress!, gradient: g.baseAddress!, range: mine,
                                    settings: (lr, mu, wd, nesterov), first: first)
                            }
                        }
                    }
                }
            }
            velocity[i] = v
        }
    }
}

/// Adam and AdamW (`decoupled`: weight decay shrinks the weights directly instead of being added
/// to the gradient), following `torch.optim.Adam` / `AdamW` with bias correction.
public final class Adam: Optimizer {
    public private(set) var parameters: [Variable]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let eps: Float
    public let weightDecay: Float
    public let decoupled: Bool
    var firstMoment: [Tensor?]
    var secondMoment: [Tensor?]
    /// Steps taken per parameter, as in PyTorch: a parameter that joins late starts its own count.
    var stepCounts: [Int]

    public init(
        _ parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
        weightDecay: Float = 0, decoupled: Bool = false
    ) throws {
        guard learningRate >= 0, (0..<1).contains(beta1), (0..<1).contains(beta2), eps >= 0, weightDecay >= 0 else {
            throw TensorError(
                .argument, decoupled ? "adamw" : "adam", "needs lr ≥ 0, betas in [0, 1), eps ≥ 0 and weight_decay ≥ 0")
        }
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        firstMoment = Array(repeating: nil, count: parameters.count)
        secondMoment = Array(repeating: nil, count: parameters.count)
        stepCounts = Array(repeating: 0, count: parameters.count)
    }

    public func include(_ extra: [Variable]) {
        let known = Set(parameters.map(ObjectIdentifier.init))
        for p in extra where !known.contains(ObjectIdentifier(p)) {
            parameters.append(p)
            firstMoment.append(nil)
            secondMoment.append(nil)
            stepCounts.append(0)
        }
    }

    public func step() { update(Array(parameters.indices)) }
    public func step(only selected: [Variable]) { update(indices(of: selected)) }

    public func state(of parameter: Variable) -> ParameterState? {
        guard let i = indices(of: [parameter]).first, let m = firstMoment[i], let v = secondMoment[i] else { return nil }
        return ParameterState(tensors: ["exp_avg": m, "exp_avg_sq": v], step: stepCounts[i])
    }

    public func restore(_ state: ParameterState, for parameter: Variable) throws {
        include([parameter])
        guard let i = indices(of: [parameter]).first else { return }
        firstMoment[i] = try state.tensor("exp_avg", shape: parameter.shape)
        secondMoment[i] = try state.tensor("exp_avg_sq", shape: parameter.shape)
        stepCounts[i] = state.step
    }

    private func update(_ chosen: [Int]) {
        let (lr, b1, b2, eps, wd) = (learningRate, beta1, beta2, eps, weightDecay)
        let decoupled = self.decoupled
        for i in chosen {
            let p = parameters[i]
            guard let grad = p.maskedGradient else { continue }
            defer { p.applyMask() }
            stepCounts[i] += 1
            let correction1 = 1 - Float(Double(b1).power(stepCounts[i]))
            let correction2 = 1 - Float(Double(b2).power(stepCounts[i]))
            let stepSize = lr / correction1
            let rootCorrection2 = correction2.squareRoot()
            var m = firstMoment[i] ?? Tensor.zeros(grad.shape)
            var v = secondMoment[i] ?? Tensor.zeros(grad.shape)
            firstMoment[i] = nil
            secondMoment[i] = nil
            p.update { value in
                value.withUnsafeMutableBufferPointer { w in
                    m.withUnsafeMutableBufferPointer { pm in
                        v.withUnsafeMutableBufferPointer { pv in
                            grad.withUnsafeBufferPointer { g in
                                // Each value's update is its own: split over Parallel's threads
                                // for large parameters, the same bits at any count.
                                // In C (VectorMath): the Swift loop stayed scalar.
                                Parallel.forEach(w.count, cost: w.count * 12) { mine in
                                    VectorMath.adam(
                                        w.baseAddress!, m: pm.baseAddress!, v: pv.baseAddress!, gradient: g.baseAddress!,
                                        range: mine, settings: (lr, b1, b2, eps, wd, decoupled), stepSize: stepSize,
                                        rootCorrection2: rootCorrection2)
                                }
                            }
                        }
                    }
                }
            }
            firstMoment[i] = m
            secondMoment[i] = v
        }
    }
}

extension Variable {
    /// The gradient, zero where a pruning mask is (as PyTorch's weight_orig · mask reparametrisation gives).
    var maskedGradient: Tensor? {
        guard let grad else { return nil }
        guard let mask, let masked = try? grad * mask else { return grad }
        return masked
    }

    /// Puts the pruned entries back to zero after an update (weight decay would move them).
    public func applyMask() {
        guard let mask else { return }
        update { value in
            value.withUnsafeMutableBufferPointer { w in
                mask.withUnsafeBufferPointer { m in
                    for j in 0..<Swift.min(w.count, m.count) where m[j] == 0 { w[j] = 0 }
                }
            }
        }
    }
}

extension Double {
    func power(_ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<n { result *= self }
        return result
    }
}

/// Scales all gradients together so their joint L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does; returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maxNorm: Float) -> Float {
    var total: Double = 0
    for p in parameters {
        guard let g = p.grad else { continue }
        g.withUnsafeBufferPointer { b in
            for x in b { total += Double(x) * Double(x) }
        }
    }
    let norm = Float(total.squareRoot())
    let scale = maxNorm / (norm + 1e-6)
    if scale < 1 {
        for p in parameters where p.grad != nil { p.grad = p.grad! * scale }
    }
    return norm
}
