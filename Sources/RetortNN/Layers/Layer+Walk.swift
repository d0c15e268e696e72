import RetortGraph
import RetortTensor

extension Layer {
    /// The description on one line: a sequence as `Sequential(Linear(32 → 128), GELU(), …)`.
    public var inlineDescription: String {
        guard let sequence = self as? Sequential else { return description.replacingOccurrences(of: "\n", with: " ") }
        return "Sequential(" + sequence.layers.map(\.inlineDescription).joined(separator: ", ") + ")"
    }

    /// This layer and every layer under it, each once, parents before children, with the dotted
    /// names their parameters carry (`""` for this one): PyTorch's `named_modules`.
    public var namedModules: [(name: String, layer: Layer)] {
        var result: [(name: String, layer: Layer)] = [("", self)]
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(self)]
        func visit(_ layer: Layer, _ prefix: String) {
            for (name, child) in layer.children where seen.insert(ObjectIdentifier(child)).inserted {
                let full = prefix.isEmpty ? name : "\(prefix).\(name)"
                result.append((full, child))
                visit(child, full)
            }
        }
        visit(self, "")
        return result
    }

    /// The layers under this one (itself included) that are `T`, by name, each once.
    public func modules<T>(of type: T.Type) -> [(name: String, layer: T)] {
        namedModules.compactMap { entry in (entry.layer as? T).map { (entry.name, $0) } }
    }

    /// Replaces layers under this one: `transform` sees each layer below (by its dotted name)
    /// once and returns its replacement, or nil to keep it and look inside it. A layer held in two
    /// places gets the same replacement in both, so sharing survives.
    public func rewrite(_ transform: (_ layer: Layer, _ name: String) throws -> Layer?) throws {
        var decided: [ObjectIdentifier: Layer?] = [:]
        func visit(_ parent: Layer, _ prefix: String) throws {
            for (name, child) in parent.children {
                let full = prefix.isEmpty ? name : "\(prefix).\(name)"
                let id = ObjectIdentifier(child)
                if let known = decided[id] {
                    if let replacement = known { try parent.replaceChild(name, with: replacement) }
                    continue
                }
                let replacement = try transform(child, full)
                decided[id] = .some(replacement)
                if let replacement {
                    try parent.replaceChild(name, with: replacement)
                } else {
                    try visit(child, full)
                }
            }
        }
        try visit(self, "")
    }

    /// The forward pass on `input`, traced in evaluation mode without gradients: every primitive,
    /// with the parameters named as `namedParameters` names them. The mode is restored afterwards.
    public func trace(_ input: Tensor, inputName: String = "x") throws -> Graph {
        let modes = Modes(of: self)
        isTraining = false
        defer { modes.restore() }
        return try Graph.trace(inputs: [(inputName, input)], parameters: namedParameters, buffers: namedBuffers) {
            [try forward($0[0])]
        }
    }
}
