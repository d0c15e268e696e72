/// Whether operations record a graph for `backward()`. Off inside `withoutGradients`.
///
/// Retort's interpreter runs on one thread at a time, so this is a plain flag rather than a
/// task-local; a front end that trains on several threads must not rely on it.
public enum GradMode {
    nonisolated(unsafe) public private(set) static var isEnabled = true

    /// Runs `body` without recording a graph: the results need no memory for backward passes.
    public static func withoutGradients<R>(_ body: () throws -> R) rethrows -> R {
        let previous = isEnabled
        isEnabled = false
        defer { isEnabled = previous }
        return try body()
    }
}

/// A tensor in a computation graph: its value, and how to send a gradient back to its inputs.
///
/// Leaves are created by users (parameters, data); every operation on variables returns a new
/// variable that remembers its parents and a backward function (its vector–Jacobian product),
/// but only when gradients are enabled and some parent requires them.
public final class Variable {
    /// The value this variable holds.
    public internal(set) var value: Tensor
    /// The accumulated gradient of a leaf after `backward()`; nil until then.
    public var grad: Tensor?
    /// Whether gradients flow to (or through) this variable. Only a leaf's can be changed
    /// (`freeze` turns a parameter's off); operations read it when they build the graph.
    public var requiresGrad: Bool {
        didSet { precondition(isLeaf || requiresGrad == oldValue, "only a leaf's requiresGrad can change") }
    }
    /// An optional name, used in errors and in saved parameter files.
    public var name: String?
    /// For a pruned parameter, 1 where it may be trained and 0 where it stays zero: optimizers
    /// mask its gradient and keep the pruned entries at zero after every step.
    public var mask: Tensor?
    /// How many times `update` has replaced the value (optimizer steps, loads): 0 for a parameter
    /// as initialised. Copies carry it, so a clone of a trained model still counts as trained.
    public var updates = 0

    private(set) var parents: [Variable]
    private(set) var backwardFunction: ((Tensor) -> [Tensor?])?
    /// The gradient flowing into this node during one backward pass.
    var pendingGrad: Tensor?
    /// Set once a backward pass has freed this node's saved tensors.
    private(set) var isReleased = false

    /// A leaf variable: data when `requiresGrad` is false, a parameter when it is true.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
        parents = []
        backwardFunction = nil
    }

    @usableFromInline
    init(value: Tensor, parents: [Variable], backward: @escaping (Tensor) -> [Tensor?]) {
        self.value = value
        requiresGrad = true
        self.parents = parents
        backwardFunction = backward
    }

    /// Whether an operation on `parents` records its backward: gradients on and any parent
    /// requiring one. What `make` decides; operations that keep extra state only for the backward
    /// (columns, argmax, Φ(x)) ask it first.
    @inlinable
    public static func takesGradient(_ parents: [Variable]) -> Bool {
        GradMode.isEnabled && parents.contains(where: { $0.requiresGrad })
    }

    /// The result of an operation: a graph node if gradients are on and any parent needs them.
    ///
    /// `backward` receives the gradient of the result and returns one gradient per parent
    /// (nil where a parent needs none); this is how new primitives are defined.
    /// `op` names the primitive for tracing; it is evaluated only while a trace is recorded.
    @inlinable
    public static func make(
        _ value: Tensor, _ parents: [Variable], op: @autoclosure () -> Op, backward: @escaping (Tensor) -> [Tensor?]
    ) -> Variable {
        let result =
            takesGradient(parents) ? Variable(value: value, parents: parents, backward: backward) : Variable(value)
        if let recorder = Tape.recorder { recorder.record(op(), inputs: parents, output: result, owner: nil) }
        return result
    }

    /// Releases the graph behind this node without recursion: a chain of 100,000 operations
    /// (a long loop in the language) would otherwise overflow the stack, one `deinit` per node.
    deinit {
        backwardFunction = nil
        var pending = parents
        parents = []
        while var node = pending.popLast() {
            // Only a node no one else holds is about to die; take its parents before it does.
            guard isKnownUniquelyReferenced(&node) else { continue }
            node.backwardFunction = nil
            pending.append(contentsOf: node.parents)
            node.parents = []
        }
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { parents.isEmpty }

    /// The same value cut off from the graph.
    public func detached() -> Variable {
        let copy = Variable(value)
        Tape.record(.detach, inputs: [self], output: copy)
        return copy
    }

    /// Replaces the value of a leaf in place (optimizers and loaders), keeping its identity.
    public func update(_ body: (inout Tensor) throws -> Void) rethrows {
        try body(&value)
        updates += 1
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// Back-propagates from this variable, adding gradients into every leaf that requires them.
    ///
    /// `seed` is the gradient of the final objective with respect to this variable; it may be
    /// omitted only for a one-element variable (a loss), where it is 1.
    ///
    /// Like PyTorch, the pass frees the tensors the graph saved for it (unless `retainGraph`), so
    /// an optimizer can then update weights in place instead of copying storage still shared
    /// with the graph; a second backward through the same graph is an error.
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else {
            throw TensorError(.argument, "backward", "this value does not depend on anything that requires a gradient")
        }
        let start: Tensor
        if let seed {
            guard seed.shape == shape else {
                throw TensorError(
                    .shape,
                    "backward", "seed shape \(formatShape(seed.shape)) differs from value shape \(formatShape(shape))")
            }
            start = seed
        } else {
            guard value.count == 1 else {
                throw TensorError(
                    .shape,
                    "backward", "needs a one-element value (a loss) or an explicit seed, got shape \(formatShape(shape))")
            }
            start = Tensor(shape: shape, repeating: 1)
        }
        let order = topologicalOrder()
        if order.contains(where: \.isReleased) {
            throw TensorError(
                .argument,
                "backward", "this graph was already used by a backward pass; compute the loss again (or pass retain_graph)")
        }
        pendingGrad = start
        for node in order.reversed() {
            guard let g = node.pendingGrad else { continue }
            node.pendingGrad = nil
            guard let backward = node.backwardFunction else {
                if node.grad == nil { node.grad = g } else { node.grad!.addInPlace(g) }
                continue
            }
            let grads = backward(g)
            for (parent, pg) in zip(node.parents, grads) where parent.requiresGrad {
                guard let pg else { continue }
                precondition(pg.shape == parent.shape, "gradient shape \(pg.shape) differs from value shape \(parent.shape)")
                if parent.pendingGrad == nil { parent.pendingGrad = pg } else { parent.pendingGrad!.addInPlace(pg) }
            }
            if !retainGraph {
                node.backwardFunction = nil
                node.isReleased = true
            }
        }
    }

    /// The leaves that require gradients and that this value depends on: the parameters a
    /// `backward()` from here will give gradients to.
    public var parameterLeaves: [Variable] {
        topologicalOrder().filter { $0.isLeaf && $0.requiresGrad }
    }

    /// Nodes reachable from this one that require gradients, parents before children.
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        // An explicit stack: deep graphs (long loops in the language) must not overflow the call stack.
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for parent in node.parents where parent.requiresGrad && !visited.contains(ObjectIdentifier(parent)) {
                stack.append((parent, false))
            }
        }
        return order
    }
}
