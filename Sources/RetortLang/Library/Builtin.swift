import RetortNN
import RetortTensor

/// A function built into Retort, with the documentation `help(name)` shows.
public struct Builtin {
    public struct Parameter {
        public var name: String
        /// What the argument must be: the binder checks it before the builtin runs, and `help` shows it.
        public var type: ParameterType
        /// The value when the argument is omitted; nil means the argument is required.
        public var defaultValue: Value?
        /// Takes every remaining positional argument (`plot(h1, h2, ...)`), each of `type`.
        public var variadic = false

        public init(_ name: String, _ type: ParameterType, _ defaultValue: Value? = nil, variadic: Bool = false) {
            self.name = name
            self.type = type
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

    /// `split(data, fraction, seed: 0)`: required parameters by position, optional ones by name; the
    /// short form messages quote.
    public var signature: String {
        let parts = parameters.map { p -> String in
            if p.variadic { return "\(p.name)..." }
            guard let d = p.defaultValue else { return p.name }
            return "\(p.name): \(d.displayText)"
        }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    /// `split(data: dataset, fraction: number in (0, 1), seed: whole number = 0)`: every parameter
    /// with its type, and its default when it has one.
    public var typedSignature: String {
        let parts = parameters.map { p -> String in
            let typed = "\(p.name)\(p.variadic ? "..." : ""): \(p.type.signatureText)"
            guard let d = p.defaultValue else { return typed }
            return "\(typed) = \(d.displayText)"
        }
        return "\(name)(\(parts.joined(separator: ", ")))"
    }

    /// The doc entry: the typed signature, one line, an example.
    public var documentation: String {
        "\(typedSignature)\n    \(summary)\n    example: \(example)"
    }
}

/// The arguments of one builtin call, bound to its parameters and checked against their types, so
/// every refusal reads alike: "`bits` of quantize must be a whole number, got 2.5".
/// The accessors then read what the check let through.
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
        try checkTypes()
    }

    /// Checks every bound argument, in the order of the parameters, against its declared type.
    private func checkTypes() throws {
        for param in builtin.parameters {
            if param.variadic {
                for arg in rest where !accepts(param, arg.value, at: arg.range) {
                    throw fail(param.name, got: arg.value, at: arg.range)
                }
            } else if !accepts(param, value(param.name), at: range(of: param.name)) {
                throw fail(param.name)
            }
        }
    }

    private func accepts(_ param: Builtin.Parameter, _ value: Value, at range: SourceRange) -> Bool {
        param.type.accepts(value) { (try? interpreter.tensorArgument($0, at: range, what: "")) != nil }
    }

    func value(_ name: String) -> Value { values[name] ?? .none }
    func range(of name: String) -> SourceRange { ranges[name] ?? range }
    func isGiven(_ name: String) -> Bool { if case .none = value(name) { return false }; return true }
    /// Whether the call wrote this argument (a default, even one that is not none, was not).
    func isWritten(_ name: String) -> Bool { ranges[name] != nil }

    /// The one shape of every argument's refusal: "`NAME` of BUILTIN must be EXPECTED, got VALUE",
    /// where EXPECTED is the parameter's declared type unless a check inside the builtin says more.
    func fail(_ name: String, _ expected: String? = nil, got value: Value? = nil, at place: SourceRange? = nil) -> Diagnostic {
        let type = builtin.parameters.first { $0.name == name }?.type
        let expected = expected ?? type?.description ?? "something else"
        let given = value ?? self.value(name)
        return interpreter.diagnostic(
            .type,
            "`\(name)` of \(builtin.name) must be \(expected), got \(describeShort(given))\(Self.firstOutlier(given, for: type))"
                + Self.torchHabit(builtin.name, name, given),
            at: place ?? range(of: name))
    }

    /// A PyTorch call that reads the same but means another builtin here: torch.min(a, b) of two
    /// tensors is the elementwise minimum, which min(a, b) would take as an axis.
    private static func torchHabit(_ builtin: String, _ name: String, _ value: Value) -> String {
        guard builtin == "min" || builtin == "max", name == "axis", case .tensor = value else { return "" }
        let (word, pair) = builtin == "min" ? ("smaller", "minimum") : ("larger", "maximum")
        return "; for the elementwise \(word) of two tensors (torch.\(builtin)(a, b)) write \(pair)(a, b)"
    }

    /// For a list of numbers that should be whole (and at least a minimum): which one is not,
    /// as ` (1.5 at position 0 is not a whole number)`; empty otherwise.
    private static func firstOutlier(_ value: Value, for type: ParameterType?) -> String {
        // A record of the wrong things: name the first field that is not one.
        var recordItem: ParameterType?
        if case .record(let item) = type { recordItem = item }
        if case .oneOf(let types) = type {
            for case .record(let item) in types { recordItem = item }
        }
        if case .record(let record) = value, let item = recordItem,
            let field = record.fields.first(where: {
                !item.accepts($0.value, tensor: { if case .tensor = $0 { return true } else { return false } })
            })
        {
            let noun = field.value.typeName
            return " (its field '\(field.name)' is \("aeiou".contains(noun.prefix(1)) ? "an" : "a") \(noun))"
        }
        if case .wholeNumber = type, let n = value.numberValue, n.isFinite, n == n.rounded(), !n.isWhole {
            return " (whole numbers are taken below 10^15 in size)"
        }
        guard case .wholeNumbers(let min) = type, let numbers = value.numberList else { return "" }
        for (i, n) in numbers.enumerated() {
            if !n.isWhole { return " (\(formatNumber(n)) at position \(i) is not a whole number)" }
            if let min, n < Double(min) { return " (\(formatNumber(n)) at position \(i) is below \(min))" }
        }
        return ""
    }

    func error(_ message: String, kind: Diagnostic.Kind = .argument, at name: String? = nil) -> Diagnostic {
        interpreter.diagnostic(kind, "\(builtin.name): \(message)", at: name.map(range(of:)) ?? range)
    }

    /// Reads an argument as `type` reads it; the type check has let only such values through, so
    /// the refusal here is for an argument declared more loosely than it is read.
    private func read<T>(_ name: String, as type: ParameterType, _ convert: (Value) -> T?) throws -> T {
        guard let v = convert(value(name)) else { throw fail(name, type.description) }
        // A tensor read as numbers: a trace cannot follow what is computed from them.
        if case .tensor(let t) = value(name) { Tape.readOut(t, by: "`\(name)` of \(builtin.name) at \(place(of: name))") }
        return v
    }

    /// Where an argument is written, for a trace's notes: "line 4, column 17".
    func place(of name: String) -> String {
        let start = range(of: name).start
        return "line \(start.line), column \(start.column)"
    }

    /// The argument read by `read`, or nil when it is none (not given).
    func ifGiven<T>(_ name: String, _ read: (String) throws -> T) rethrows -> T? {
        isGiven(name) ? try read(name) : nil
    }

    func tensor(_ name: String) throws -> Variable {
        do {
            return try interpreter.tensorArgument(value(name), at: range(of: name), what: "`\(name)` of \(builtin.name)")
        } catch {
            throw fail(name, ParameterType.tensor.description)
        }
    }

    func number(_ name: String) throws -> Double { try read(name, as: .number(), \.numberValue) }
    func float(_ name: String) throws -> Float { Float(try number(name)) }
    func int(_ name: String) throws -> Int { try read(name, as: .wholeNumber(), \.wholeNumberValue) }

    func bool(_ name: String) throws -> Bool {
        try read(name, as: .bool) { if case .bool(let b) = $0 { return b } else { return nil } }
    }

    func string(_ name: String) throws -> String {
        try read(name, as: .string) { if case .string(let s) = $0 { return s } else { return nil } }
    }

    /// One of a set of strings, as the enum that names them (`Reduction`, `ObserverKind`).
    func option<T: RawRepresentable>(_ name: String, as _: T.Type) throws -> T where T.RawValue == String {
        try read(name, as: .string) { if case .string(let s) = $0 { return T(rawValue: s) } else { return nil } }
    }

    func model(_ name: String) throws -> Model {
        try read(name, as: .model) { if case .model(let m) = $0 { return m } else { return nil } }
    }

    func dataset(_ name: String) throws -> Dataset {
        try read(name, as: .dataset) { if case .dataset(let d) = $0 { return d } else { return nil } }
    }

    /// A dataset to train on or measure with: an empty one (`take(data, 0)`, a `subset` that kept
    /// nothing) is an error here, where it gave a loss of NaN or an accuracy of 0 without one.
    func examples(_ name: String, for purpose: String) throws -> Dataset {
        let data = try dataset(name)
        guard data.count > 0 else {
            throw error("\(data.name) holds no examples: nothing to \(purpose)", at: name)
        }
        return data
    }

    func corpus(_ name: String) throws -> Corpus {
        try read(name, as: .corpus) { if case .corpus(let c) = $0 { return c } else { return nil } }
    }

    func vocab(_ name: String) throws -> Vocabulary {
        try read(name, as: .vocab) { if case .vocab(let v) = $0 { return v } else { return nil } }
    }

    func function(_ name: String) throws -> Value {
        try read(name, as: .function()) { if case .function = $0 { return $0 } else { return nil } }
    }

    /// One model or a non-empty list of them (teachers, models side by side).
    func models(_ name: String) throws -> [Model] { try read(name, as: .models, \.modelList) }

    func list(_ name: String) throws -> [Value] {
        try read(name, as: .list(.any)) { if case .list(let items) = $0 { return items } else { return nil } }
    }

    func optimizer(_ name: String) throws -> OptimizerValue {
        try read(name, as: .optimizer) { if case .optimizer(let o) = $0 { return o } else { return nil } }
    }

    func schedule(_ name: String) throws -> LearningRateSchedule {
        try read(name, as: .schedule) { if case .schedule(let s) = $0 { return s } else { return nil } }
    }

    /// A list of numbers, from a list or a rank-1 tensor (`[0.75, 0.25]` is written as a tensor literal).
    func numbers(_ name: String) throws -> [Double] { try read(name, as: .numbers(), \.numberList) }

    /// A list of whole numbers, from a list, a rank-1 tensor or one number.
    func ints(_ name: String) throws -> [Int] { try read(name, as: .wholeNumbers(), \.wholeNumberList) }

    /// The sizes of a new tensor, within the memory budget.
    func shape(_ name: String) throws -> [Int] {
        let shape = try read(name, as: .shape, \.shapeValue)
        try Builtins.budget(self, shape, at: name)
        return shape
    }

    /// Rows of numbers to draw: a vector, a matrix, or a list of equally long vectors.
    func rows(_ name: String) throws -> [[Double]] { try read(name, as: .vectors, \.rowsOfNumbers) }

    /// A list of names; numbers and tensors of numbers become their text.
    func strings(_ name: String) throws -> [String] { try read(name, as: .strings, \.names) }

    /// Wraps tensor-core errors from `body` as diagnostics at the call.
    func tensorOp(_ body: () throws -> Variable) throws -> Value {
        do {
            return .tensor(try body())
        } catch {
            throw interpreter.wrap(error, at: range)
        }
    }
}
