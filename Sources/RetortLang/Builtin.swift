import RetortNN
import RetortTensor

/// A function built into Retort, with the documentation `help(name)` shows.
public struct Builtin {
    public struct Parameter {
        public var name: String
        /// The value when the argument is omitted; nil means the argument is required.
        public var defaultValue: Value?
        /// Takes every remaining positional argument (`plot(h1, h2, ...)`).
        public var variadic = false

        public init(_ name: String, _ defaultValue: Value? = nil, variadic: Bool = false) {
            self.name = name
            self.defaultValue = defaultValue
            self.variadic = variadic
        }
    }

    public let name: String
    public let parameters: [Parameter]
    public let summary: String
    public let example: String
    public let category: String
    /// Whether named arguments beyond `parameters` are accepted (fit and distill pass them to the loss).
    public let acceptsExtraNamed: Bool
    let body: (BuiltinCall) throws -> Value

    init(
        _ name: String, _ parameters: [Parameter], category: String, summary: String, example: String,
        acceptsExtraNamed: Bool = false, body: @escaping (BuiltinCall) throws -> Value
    ) {
        self.acceptsExtraNamed = acceptsExtraNamed
        self.name = name
        self.parameters = parameters
        self.summary = summary
        self.example = example
        self.category = category
        self.body = body
    }

    /// `split(data, fraction, seed: 0)`: required parameters by position, optional ones by name.
    public var signature: String {
        let parts = parameters.map { p -> String in
            if p.variadic { return "\(p.name)..." }
            guard let d = p.defaultValue else { return p.name }
            return "\(p.name): \(d.displayText)"
        }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    /// The doc entry: signature, one line, an example.
    public var documentation: String {
        "\(signature)\n    \(summary)\n    example: \(example)"
    }
}

/// The arguments of one builtin call, bound to its parameters, with typed accessors whose
/// errors all read alike: "`lr` of adam must be a number, got a string".
final class BuiltinCall {
    let builtin: Builtin
    let interpreter: Interpreter
    let range: SourceRange
    private var values: [String: Value] = [:]
    private var ranges: [String: SourceRange] = [:]
    private(set) var rest: [CallArgument] = []
    /// Named arguments a builtin with `acceptsExtraNamed` passes on (to a loss).
    private(set) var extraNamed: [CallArgument] = []
    /// Values a plot builtin left out before building its figure (a histogram's NaN), for its note.
    var skippedValues = 0

    init(_ builtin: Builtin, _ args: [CallArgument], interpreter: Interpreter, range: SourceRange) throws {
        self.builtin = builtin
        self.interpreter = interpreter
        self.range = range
        let params = builtin.parameters
        var positional = 0
        for arg in args {
            if let label = arg.label {
                if builtin.acceptsExtraNamed, !params.contains(where: { $0.name == label }) {
                    extraNamed.append(arg)
                    continue
                }
                guard let param = params.first(where: { $0.name == label && !$0.variadic }) else {
                    var notes = ["\(builtin.signature)"]
                    if let s = interpreter.nearest(to: label, in: params.map(\.name)) {
                        notes.insert("did you mean '\(s)'?", at: 0)
                    }
                    throw interpreter.diagnostic(
                        .argument, "\(builtin.name) has no parameter '\(label)'", at: arg.range, notes: notes)
                }
                guard values[param.name] == nil else {
                    throw interpreter.diagnostic(.argument, "argument '\(label)' is given twice", at: arg.range)
                }
                values[param.name] = arg.value
                ranges[param.name] = arg.range
            } else {
                guard positional < params.count else {
                    throw interpreter.diagnostic(
                        .argument, "\(builtin.name) takes at most \(params.count) arguments: \(builtin.signature)", at: arg.range)
                }
                let param = params[positional]
                if param.variadic {
                    rest.append(arg)
                    continue
                }
                values[param.name] = arg.value
                ranges[param.name] = arg.range
                positional += 1
            }
        }
        for param in params where !param.variadic && values[param.name] == nil {
            guard let d = param.defaultValue else {
                throw interpreter.diagnostic(
                    .argument, "missing argument '\(param.name)' in call to \(builtin.signature)", at: range)
            }
            values[param.name] = d
        }
    }

    func value(_ name: String) -> Value { values[name] ?? .none }
    func range(of name: String) -> SourceRange { ranges[name] ?? range }
    func isGiven(_ name: String) -> Bool { if case .none = value(name) { return false }; return true }

    func fail(_ name: String, _ expected: String) -> Diagnostic {
        interpreter.diagnostic(
            .type, "`\(name)` of \(builtin.name) must be \(expected), got \(describeShort(value(name)))", at: range(of: name))
    }

    func error(_ message: String, kind: Diagnostic.Kind = .argument, at name: String? = nil) -> Diagnostic {
        interpreter.diagnostic(kind, "\(builtin.name): \(message)", at: name.map(range(of:)) ?? range)
    }

    func tensor(_ name: String) throws -> Variable {
        do {
            return try interpreter.tensorArgument(value(name), at: range(of: name), what: "`\(name)` of \(builtin.name)")
        } catch {
            throw fail(name, "a tensor")
        }
    }

    func number(_ name: String) throws -> Double {
        switch value(name) {
        case .number(let n): return n
        case .tensor(let t) where t.value.count == 1: return Double(t.value.scalar ?? .nan)
        default: throw fail(name, "a number")
        }
    }

    func float(_ name: String) throws -> Float { Float(try number(name)) }

    func optionalNumber(_ name: String) throws -> Double? {
        if case .none = value(name) { return nil }
        return try number(name)
    }

    func int(_ name: String, minimum: Int? = nil) throws -> Int {
        let n = try number(name)
        guard n.isFinite, n == n.rounded(), Swift.abs(n) < 1e15 else { throw fail(name, "a whole number") }
        if let minimum, Int(n) < minimum { throw fail(name, "at least \(minimum)") }
        return Int(n)
    }

    func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = value(name) else { throw fail(name, "true or false") }
        return b
    }

    func string(_ name: String) throws -> String {
        guard case .string(let s) = value(name) else { throw fail(name, "a string") }
        return s
    }

    func model(_ name: String) throws -> Model {
        guard case .model(let m) = value(name) else { throw fail(name, "a model") }
        return m
    }

    func dataset(_ name: String) throws -> Dataset {
        guard case .dataset(let d) = value(name) else { throw fail(name, "a dataset") }
        return d
    }

    func function(_ name: String) throws -> Value {
        guard case .function = value(name) else { throw fail(name, "a function") }
        return value(name)
    }

    /// One model or a non-empty list of them (teachers, models side by side).
    func models(_ name: String) throws -> [Model] {
        let models: [Model]
        switch value(name) {
        case .model(let m): models = [m]
        case .list(let items):
            models = try items.map { item in
                guard case .model(let m) = item else { throw fail(name, "a model or a list of models") }
                return m
            }
        default: throw fail(name, "a model or a list of models")
        }
        guard !models.isEmpty else { throw fail(name, "at least one model") }
        return models
    }

    func optimizer(_ name: String) throws -> OptimizerValue {
        guard case .optimizer(let o) = value(name) else { throw fail(name, "an optimizer such as adam(lr: 1e-3)") }
        return o
    }

    /// A list of numbers, from a list or a rank-1 tensor (`[0.75, 0.25]` is written as a tensor literal).
    func numbers(_ name: String) throws -> [Double] {
        switch value(name) {
        case .tensor(let t) where t.value.rank == 1: return t.value.scalars.map(Double.init)
        case .list(let items):
            return try items.map {
                guard case .number(let n) = $0 else { throw fail(name, "a list of numbers") }
                return n
            }
        default:
            throw fail(name, "a list of numbers")
        }
    }

    /// A list of whole numbers, from a list or a rank-1 tensor.
    func ints(_ name: String) throws -> [Int] {
        switch value(name) {
        case .tensor(let t) where t.value.rank == 1:
            let s = t.value.scalars
            guard s.allSatisfy({ $0.isFinite && $0 == $0.rounded() && Swift.abs($0) < 1e15 }) else {
                throw fail(name, "a list of whole numbers")
            }
            return s.map { Int($0) }
        case .list(let items):
            return try items.map {
                guard case .number(let n) = $0, n.isFinite, n == n.rounded(), Swift.abs(n) < 1e15 else {
                    throw fail(name, "a list of whole numbers")
                }
                return Int(n)
            }
        case .number(let n) where n.isFinite && n == n.rounded() && Swift.abs(n) < 1e15:
            return [Int(n)]
        default:
            throw fail(name, "a list of whole numbers")
        }
    }

    /// Wraps tensor-core errors from `body` as diagnostics at the call.
    func tensorOp(_ body: () throws -> Variable) throws -> Value {
        do {
            return .tensor(try body())
        } catch {
            throw interpreter.wrap(error, at: range)
        }
    }
}
