import RetortNN
import RetortTensor

/// What a builtin's parameter accepts. The binder checks every argument against it before the
/// builtin runs, so every refusal reads alike ("`bits` of quantize must be a whole number, got
/// 2.5"), and `help` shows it.
public indirect enum ParameterType: Equatable, Sendable {
    /// Any value at all, declared as such (print, type, str): never a default.
    case any
    /// A number (a one-element tensor counts) within `bounds`.
    case number(NumberBounds = .unbounded)
    /// A whole number (finite, below 10^15 in size), at least `min` and at most `max` when given.
    case wholeNumber(min: Int? = nil, max: Int? = nil)
    /// A number in [0, 1), or in [0, 1] when `includingOne`.
    case fraction(includingOne: Bool)
    case bool
    case string
    /// One of a fixed set of strings.
    case option([String])
    /// A tensor, or what becomes one: a number or a list of numbers (`Interpreter.tensorArgument`).
    case tensor
    /// A tensor itself, not a number: for arguments a builtin looks at rather than computes with
    /// (len, freeze, grad's wrt).
    case tensorValue
    /// The sizes of a new tensor: whole numbers as a list, a rank-1 tensor, a tuple or one number.
    case shape
    /// Whole numbers, each at least `min`: a list, a rank-1 tensor or one number.
    case wholeNumbers(min: Int? = nil)
    /// Numbers within `bounds`, from a list or a rank-1 tensor.
    case numbers(NumberBounds = .unbounded)
    /// Rows of numbers to draw: a vector, a matrix, or a list of equally long vectors.
    case vectors
    /// Names: a list of strings (numbers, and a rank-1 tensor's values, as their text).
    case strings
    case model
    /// One model, or a non-empty list of them.
    case models
    case dataset
    /// A function; `of` names what it is called with, for messages: "a function of p".
    case function(of: String? = nil)
    case optimizer
    case schedule
    case history
    case plot
    /// A model's traced graph, from `graph(m)`.
    case graph
    /// Lines of text (`names()`, `text(path)`).
    case corpus
    /// A character vocabulary (`vocab(corpus)`).
    case vocab
    case tuple
    case range
    /// A record whose every field is of the given type (`.record(.any)`: any record).
    case record(ParameterType)
    /// A list whose every item is of the given type (`.list(.any)`: any list).
    case list(ParameterType)
    /// The given type, or none for "not given".
    case optional(ParameterType)
    /// Any one of these types.
    case oneOf([ParameterType])
}

/// Bounds on a number: each end open or closed, and whether infinity is refused (NaN fails any bound).
public struct NumberBounds: Equatable, Sendable {
    public struct End: Equatable, Sendable {
        public var value: Double
        public var included: Bool
    }

    public var lower: End?
    public var upper: End?
    public var finite = false

    public static let unbounded = NumberBounds()
    /// x ≥ value.
    public static func atLeast(_ value: Double, finite: Bool = false) -> NumberBounds {
        NumberBounds(lower: End(value: value, included: true), finite: finite)
    }
    /// x > value.
    public static func above(_ value: Double, finite: Bool = false) -> NumberBounds {
        NumberBounds(lower: End(value: value, included: false), finite: finite)
    }
    /// From `low` to `high`, each end included or not.
    public static func between(_ low: Double, _ high: Double, includingLow: Bool, includingHigh: Bool) -> NumberBounds {
        NumberBounds(lower: End(value: low, included: includingLow), upper: End(value: high, included: includingHigh))
    }

    public func contains(_ x: Double) -> Bool {
        if finite, !x.isFinite { return false }
        if let l = lower, !(l.included ? x >= l.value : x > l.value) { return false }
        if let u = upper, !(u.included ? x <= u.value : x < u.value) { return false }
        return true
    }

    /// "≥ 0", "> 0", "in (0, 1]", or "" when unbounded.
    var text: String {
        switch (lower, upper) {
        case (let l?, let u?):
            return "in \(l.included ? "[" : "(")\(formatNumber(l.value)), \(formatNumber(u.value))\(u.included ? "]" : ")")"
        case (let l?, nil): return "\(l.included ? "≥" : ">") \(formatNumber(l.value))"
        case (nil, let u?): return "\(u.included ? "≤" : "<") \(formatNumber(u.value))"
        case (nil, nil): return ""
        }
    }
}

extension ParameterType {
    /// What a message says the argument must be: "a whole number ≥ 1 or none", `one of "a", "b"`.
    public var description: String { text(article: true) }

    /// What `help` shows after the parameter's name: `whole number ≥ 1 or none`, `"a" | "b"`.
    public var signatureText: String { text(article: false) }

    private func text(article: Bool) -> String {
        func noun(_ a: String, _ word: String) -> String { article ? "\(a) \(word)" : word }
        switch self {
        case .any: return article ? "any value" : "any"
        case .number(let b):
            let word = (b.finite ? "finite number" : "number") + (b.text.isEmpty ? "" : " " + b.text)
            return noun("a", word)
        case .wholeNumber(let min?, let max?): return noun("a", "whole number from \(min) to \(max)")
        case .wholeNumber(let min?, nil): return noun("a", "whole number ≥ \(min)")
        case .wholeNumber(nil, let max?): return noun("a", "whole number ≤ \(max)")
        case .wholeNumber(nil, nil): return noun("a", "whole number")
        case .fraction(let includingOne): return noun("a", "fraction in [0, 1\(includingOne ? "]" : ")")")
        case .bool: return article ? "true or false" : "bool"
        case .string: return noun("a", "string")
        case .option(let options):
            let quoted = options.map { "\"\($0)\"" }
            return article ? "one of " + quoted.joined(separator: ", ") : quoted.joined(separator: " | ")
        case .tensor, .tensorValue: return noun("a", "tensor")
        case .shape: return article ? "a list of whole numbers" : "shape"
        case .wholeNumbers(let min): return noun("a", "list of whole numbers" + (min.map { " ≥ \($0)" } ?? ""))
        case .numbers(let b): return noun("a", "list of numbers" + (b.text.isEmpty ? "" : " " + b.text))
        case .vectors: return article ? "a vector, a matrix or a list of equally long vectors" : "vector or matrix"
        case .strings: return noun("a", "list of strings")
        case .model: return noun("a", "model")
        case .models: return article ? "a model or a list of models" : "model or list of models"
        case .dataset: return noun("a", "dataset")
        case .function(let of): return noun("a", "function" + (of.map { " of \($0)" } ?? ""))
        case .optimizer: return noun("an", "optimizer")
        case .schedule: return noun("a", "schedule")
        case .history: return article ? "a training history" : "history"
        case .plot: return noun("a", "plot")
        case .graph: return noun("a", "graph")
        case .corpus: return noun("a", "corpus")
        case .vocab: return noun("a", "vocabulary")
        case .tuple: return noun("a", "tuple")
        case .range: return noun("a", "range")
        case .record(.any): return noun("a", "record")
        case .record(let item): return noun("a", "record of \(item.plural)")
        case .list(.any): return noun("a", "list")
        case .list(let item): return noun("a", "list of \(item.plural)")
        case .optional(let wrapped):
            return Self.either(wrapped.alternatives.map { $0.text(article: article) } + ["none"])
        case .oneOf(let types):
            return Self.either(types.map { $0.text(article: article) })
        }
    }

    /// "a", "a or b", "a, b or c".
    private static func either(_ parts: [String]) -> String {
        guard let last = parts.last else { return "" }
        return parts.count == 1 ? last : parts.dropLast().joined(separator: ", ") + " or " + last
    }

    private var alternatives: [ParameterType] {
        if case .oneOf(let types) = self { return types }
        return [self]
    }

    /// The items of a list or record of this type, for "a list of models".
    private var plural: String {
        switch self {
        case .oneOf(let types): return types.map(\.plural).joined(separator: " or ")
        case .model: return "models"
        case .tensor, .tensorValue: return "tensors"
        case .string: return "strings"
        case .number(let b) where b.text.isEmpty: return "numbers"
        case .dataset: return "datasets"
        default: return "items that are each \(description)"
        }
    }
}

extension ParameterType {
    /// Whether `value` is of this type. A tensor is tried as `tensorArgument` tries it, which needs
    /// the interpreter (a list literal becomes a tensor there).
    func accepts(_ value: Value, tensor isTensor: (Value) -> Bool) -> Bool {
        switch self {
        case .any: return true
        case .number(let bounds): return value.numberValue.map(bounds.contains) ?? false
        case .wholeNumber(let min, let max):
            guard let n = value.wholeNumberValue else { return false }
            return n >= (min ?? .min) && n <= (max ?? .max)
        case .fraction(let includingOne):
            guard let n = value.numberValue else { return false }
            return n >= 0 && (includingOne ? n <= 1 : n < 1)
        case .bool: if case .bool = value { return true } else { return false }
        case .string: if case .string = value { return true } else { return false }
        case .option(let options): if case .string(let s) = value { return options.contains(s) } else { return false }
        case .tensor: return isTensor(value)
        case .tensorValue: if case .tensor = value { return true } else { return false }
        case .shape: return value.shapeValue != nil
        case .wholeNumbers(let min): return value.wholeNumberList.map { $0.allSatisfy { $0 >= (min ?? .min) } } ?? false
        case .numbers(let bounds): return value.numberList.map { $0.allSatisfy(bounds.contains) } ?? false
        case .vectors: return value.rowsOfNumbers != nil
        case .strings: return value.names != nil
        case .model: if case .model = value { return true } else { return false }
        case .models: return value.modelList != nil
        case .dataset: if case .dataset = value { return true } else { return false }
        case .function: if case .function = value { return true } else { return false }
        case .optimizer: if case .optimizer = value { return true } else { return false }
        case .schedule: if case .schedule = value { return true } else { return false }
        case .history: if case .history = value { return true } else { return false }
        case .plot: if case .plot = value { return true } else { return false }
        case .graph: if case .graph = value { return true } else { return false }
        case .corpus: if case .corpus = value { return true } else { return false }
        case .vocab: if case .vocab = value { return true } else { return false }
        case .tuple: if case .tuple = value { return true } else { return false }
        case .range: if case .range = value { return true } else { return false }
        case .record(let item):
            guard case .record(let r) = value else { return false }
            return r.fields.allSatisfy { item.accepts($0.value, tensor: isTensor) }
        case .list(let item):
            guard case .list(let items) = value else { return false }
            return items.allSatisfy { item.accepts($0, tensor: isTensor) }
        case .optional(let wrapped):
            if case .none = value { return true }
            return wrapped.accepts(value, tensor: isTensor)
        case .oneOf(let types): return types.contains { $0.accepts(value, tensor: isTensor) }
        }
    }
}

/// Reading a value as each parameter type takes it: the binder's checks and `BuiltinCall`'s
/// accessors share these, so what is checked is what is read.
extension Value {
    /// A number, or the one element of a one-element tensor.
    var numberValue: Double? {
        switch self {
        case .number(let n): return n
        case .tensor(let t) where t.value.count == 1: return Double(t.value.scalar ?? .nan)
        default: return nil
        }
    }

    /// A whole number small enough to be an Int (|n| < 10^15).
    var wholeNumberValue: Int? {
        guard let n = numberValue, n.isWhole else { return nil }
        return Int(n)
    }

    /// Numbers from a list of numbers or a rank-1 tensor (`[0.75, 0.25]` is written as a tensor literal).
    var numberList: [Double]? {
        switch self {
        case .tensor(let t) where t.value.rank == 1: return t.value.scalars.map(Double.init)
        case .list(let items):
            var numbers: [Double] = []
            for case .number(let n) in items { numbers.append(n) }
            return numbers.count == items.count ? numbers : nil
        default: return nil
        }
    }

    /// Whole numbers from a list, a rank-1 tensor, or a single number.
    var wholeNumberList: [Int]? {
        switch self {
        case .tensor(let t) where t.value.rank == 1:
            let s = t.value.scalars
            guard s.allSatisfy({ Double($0).isWhole }) else { return nil }
            return s.map { Int($0) }
        case .list(let items):
            var numbers: [Int] = []
            for case .number(let n) in items where n.isWhole { numbers.append(Int(n)) }
            return numbers.count == items.count ? numbers : nil
        case .number(let n) where n.isWhole: return [Int(n)]
        default: return nil
        }
    }

    /// A shape: whole numbers as `wholeNumberList` reads them, or a tuple of them.
    var shapeValue: [Int]? {
        guard case .tuple(let items) = self else { return wholeNumberList }
        var sizes: [Int] = []
        for case .number(let n) in items where n.isWhole { sizes.append(Int(n)) }
        return sizes.count == items.count ? sizes : nil
    }

    /// Rows of numbers: a rank-1 tensor or a list of numbers is one row; a rank-2 tensor or a list
    /// of rank-1 tensors is several.
    var rowsOfNumbers: [[Double]]? {
        if let row = numberList { return [row] }
        if case .tensor(let t) = self, t.value.rank == 2 {
            let s = t.value.scalars.map(Double.init), n = t.shape[1]
            return (0..<t.shape[0]).map { Array(s[($0 * n)..<(($0 + 1) * n)]) }
        }
        if case .list(let items) = self, !items.isEmpty {
            let rows = items.compactMap(\.numberList)
            if rows.count == items.count, Set(rows.map(\.count)).count == 1 { return rows }
        }
        return nil
    }

    /// Names from a list of strings and numbers, or a rank-1 tensor's values, as text.
    var names: [String]? {
        switch self {
        case .list(let items):
            var names: [String] = []
            for item in items {
                switch item {
                case .string(let s): names.append(s)
                case .number(let n): names.append(formatNumber(n))
                default: return nil
                }
            }
            return names
        case .tensor(let t) where t.value.rank == 1: return t.value.scalars.map { formatNumber(Double($0)) }
        default: return nil
        }
    }

    /// One model, or a non-empty list of models.
    var modelList: [Model]? {
        switch self {
        case .model(let m): return [m]
        case .list(let items) where !items.isEmpty:
            var models: [Model] = []
            for case .model(let m) in items { models.append(m) }
            return models.count == items.count ? models : nil
        default: return nil
        }
    }
}

extension Double {
    /// Finite, whole and below 10^15 in size, so `Int(self)` is exact.
    var isWhole: Bool { isFinite && self == rounded() && Swift.abs(self) < 1e15 }
}
