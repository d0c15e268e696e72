import RetortNN
import RetortTensor

/// A Retort function of one tensor used as a layer: `sequential(linear(64, 32), relu, res)`.
///
/// Every model the function reaches through the names it reads (`lin` in `fn res(x) = x +
/// relu(lin(x))`, a list or record of models, models read by the user functions it calls) is a
/// full member, like a submodule assigned in a PyTorch module's `__init__`: its parameters are
/// trained, counted, named in `summary`, saved and loaded as `1.lin.weight`; `clone` copies it; the
/// model's train/eval mode reaches it. The layer runs its function over a scope that binds those
/// names to exactly these members, so rebinding `lin` later does not change the model.
final class FunctionLayer: Layer {
    let function: Value
    let label: String
    let members: [(name: String, model: Model)]
    /// Parameter tensors the function reads by name (`fn scale(x) = x * w` with
    /// `let w = tensor(..., requires_grad: true)`), like a module's `nn.Parameter` attributes.
    let tensors: [(name: String, variable: Variable)]
    unowned let interpreter: Interpreter
    let range: SourceRange
    /// The source the layer was listed in, where `range` points.
    let sourceName: String
    private var training = true

    private init(
        function: Value, label: String, members: [(name: String, model: Model)],
        tensors: [(name: String, variable: Variable)] = [], interpreter: Interpreter, range: SourceRange
    ) {
        self.function = function
        self.label = label
        self.members = members
        self.tensors = tensors
        self.interpreter = interpreter
        self.range = range
        sourceName = interpreter.currentSourceName
    }

    /// The layer for `function`, with the models it captures as members.
    convenience init(_ function: Value, label: String, interpreter: Interpreter, range: SourceRange) {
        guard case .function(.closure(let closure)) = function else {
            self.init(function: function, label: label, members: [], interpreter: interpreter, range: range)
            return
        }
        let capture = Capture(prelude: interpreter.preludeScope, replace: { $0 }, replaceTensor: { $0 })
        let bound = capture.rebind(closure)
        self.init(
            function: .function(.closure(bound)), label: label, members: capture.members, tensors: capture.tensors,
            interpreter: interpreter, range: range)
    }

    var description: String {
        let parts =
            members.map { "\($0.name): \($0.model.module.inlineDescription)" }
            + tensors.map { "\($0.name): \(formatShape($0.variable.shape))" }
        return parts.isEmpty ? label : "\(label) { \(parts.joined(separator: "; ")) }"
    }

    var isTraining: Bool {
        get { training }
        set {
            training = newValue
            for member in members { member.model.network.isTraining = newValue }
        }
    }

    /// The models it captures, each as the layer it stands for (a layer builtin's one layer, or
    /// the whole sequence), under the name the function reads it by.
    var children: [(name: String, layer: Layer)] { members.map { ($0.name, $0.model.module) } }

    /// Swaps a captured layer in the member model, which the function's scope holds, so the
    /// function calls the replacement from now on.
    func replaceChild(_ name: String, with layer: Layer) throws {
        guard let member = members.first(where: { $0.name == name }) else {
            throw TensorError(.argument, "replace", "\(label) captures no model named '\(name)'")
        }
        if !member.model.isLayer, let sequence = layer as? Sequential {
            member.model.network.replaceLayers(sequence.layers)
        } else {
            member.model.network.replaceLayers([layer])
        }
    }

    var namedParameters: [(name: String, variable: Variable)] {
        members.flatMap { member in member.model.module.namedParameters.map { ("\(member.name).\($0.name)", $0.variable) } }
            + tensors
    }

    var namedBuffers: [(name: String, tensor: Tensor)] {
        members.flatMap { member in member.model.module.namedBuffers.map { ("\(member.name).\($0.name)", $0.tensor) } }
    }

    var namedInt8Buffers: [(name: String, tensor: Tensor)] {
        members.flatMap { member in member.model.module.namedInt8Buffers.map { ("\(member.name).\($0.name)", $0.tensor) } }
    }

    var namedCounts: [(name: String, count: Int)] {
        members.flatMap { member in member.model.module.namedCounts.map { ("\(member.name).\($0.name)", $0.count) } }
    }

    func setCount(_ name: String, _ count: Int) {
        guard let owner = owner(of: name) else { return }
        owner.model.module.setCount(String(name.dropFirst(owner.name.count + 1)), count)
    }

    /// The member a dotted name belongs to: the longest member name that prefixes it (`blocks.1` before `blocks`).
    private func owner(of name: String) -> (name: String, model: Model)? {
        members.filter { name.hasPrefix($0.name + ".") }.max { $0.name.count < $1.name.count }
    }

    func setBuffer(_ name: String, _ tensor: Tensor) throws {
        guard let owner = owner(of: name) else {
            throw TensorError(.argument, "load", "\(label) has no member holding '\(name)'")
        }
        try owner.model.module.setBuffer(String(name.dropFirst(owner.name.count + 1)), tensor)
    }

    func copy() -> Layer { copy(using: LayerCopier()) }

    func copy(using copier: LayerCopier) -> Layer {
        guard case .function(.closure(let closure)) = function, !(members.isEmpty && tensors.isEmpty) else { return self }
        var copies: [ObjectIdentifier: Model] = [:]
        var tensorCopies: [ObjectIdentifier: Variable] = [:]
        let capture = Capture(
            prelude: interpreter.preludeScope,
            replace: { model in
                if let done = copies[ObjectIdentifier(model)] { return done }
                let made = Model(model.network.copied(using: copier), name: model.name, isLayer: model.isLayer)
                copies[ObjectIdentifier(model)] = made
                return made
            },
            replaceTensor: { t in
                if let done = tensorCopies[ObjectIdentifier(t)] { return done }
                let made = t.copiedParameter()
                tensorCopies[ObjectIdentifier(t)] = made
                return made
            }, known: Set(tensors.map { ObjectIdentifier($0.variable) }))
        let made = FunctionLayer(
            function: .function(.closure(capture.rebind(closure))), label: label, members: capture.members,
            tensors: capture.tensors, interpreter: interpreter, range: range)
        made.training = training
        return made
    }

    func forward(_ input: Variable) throws -> Variable {
        let callerSource = interpreter.currentSourceName
        interpreter.currentSourceName = sourceName
        defer { interpreter.currentSourceName = callerSource }
        let result = try interpreter.callFunction(function, [.tensor(input)], at: range)
        guard case .tensor(let t) = result else {
            throw interpreter.diagnostic(
                .type, "the layer \(label) must return a tensor, got \(describeShort(result))", at: range)
        }
        return t
    }
}

/// Finds the models and parameter tensors a closure reaches through its free names and rebinds the closure over a scope
/// that maps each of those names to `replace(model)`; user functions it calls are rebound too.
final class Capture {
    private let prelude: Environment
    private let replace: (Model) -> Model
    private let replaceTensor: (Variable) -> Variable
    /// Tensors taken as parameters even if frozen now (those of the layer being copied).
    private let known: Set<ObjectIdentifier>
    /// Each model reached, once, under the first name it was reached by (after `replace`).
    private(set) var members: [(name: String, model: Model)] = []
    /// Each parameter tensor reached (a leaf that requires a gradient), once.
    private(set) var tensors: [(name: String, variable: Variable)] = []
    private var seen = Set<ObjectIdentifier>()
    private var rebound: [ObjectIdentifier: Closure] = [:]

    init(
        prelude: Environment, replace: @escaping (Model) -> Model, replaceTensor: @escaping (Variable) -> Variable,
        known: Set<ObjectIdentifier> = []
    ) {
        self.prelude = prelude
        self.replace = replace
        self.replaceTensor = replaceTensor
        self.known = known
    }

    func rebind(_ closure: Closure) -> Closure {
        if let done = rebound[ObjectIdentifier(closure)] { return done }
        // The prelude's functions read no models.
        if closure.environment === prelude { return closure }
        let scope = Environment(parent: closure.environment)
        let made = Closure(closure.declaration, environment: scope, sourceName: closure.sourceName)
        rebound[ObjectIdentifier(closure)] = made
        for name in FreeNames.of(closure.declaration) {
            guard let value = closure.environment.lookup(name), let mapped = map(value, path: name) else { continue }
            scope.define(name, mapped)
        }
        return made
    }

    /// The value with every model in it replaced and recorded as a member; nil when it holds none.
    private func map(_ value: Value, path: String) -> Value? {
        switch value {
        case .model(let m):
            let replaced = replace(m)
            if seen.insert(ObjectIdentifier(m)).inserted { members.append((path, replaced)) }
            return .model(replaced)
        case .tensor(let t) where t.isLeaf && (t.requiresGrad || known.contains(ObjectIdentifier(t))):
            let replaced = replaceTensor(t)
            if seen.insert(ObjectIdentifier(t)).inserted { tensors.append((path, replaced)) }
            return .tensor(replaced)
        case .list(let items):
            return mapItems(items, path: path).map { .list($0) }
        case .tuple(let items):
            return mapItems(items, path: path).map { .tuple($0) }
        case .record(let r):
            let mapped = r.fields.map { map($0.value, path: "\(path).\($0.name)") }
            guard mapped.contains(where: { $0 != nil }) else { return nil }
            return .record(Record(zip(r.fields, mapped).map { ($0.name, $1 ?? $0.value) }))
        case .function(.closure(let c)):
            let r = rebind(c)
            return r === c ? nil : .function(.closure(r))
        default:
            return nil
        }
    }

    private func mapItems(_ items: [Value], path: String) -> [Value]? {
        let mapped = items.enumerated().map { map($1, path: "\(path).\($0)") }
        guard mapped.contains(where: { $0 != nil }) else { return nil }
        return zip(items, mapped).map { $1 ?? $0 }
    }
}
