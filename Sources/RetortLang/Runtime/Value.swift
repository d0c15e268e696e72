import Foundation
import RetortNN
import RetortPlot
import RetortTensor

/// Every value a Retort program can hold.
public indirect enum Value {
    case none
    case number(Double)
    case bool(Bool)
    case string(String)
    case tensor(Variable)
    case list([Value])
    case tuple([Value])
    case record(Record)
    case function(Function)
    case model(Model)
    case optimizer(OptimizerValue)
    /// A learning-rate schedule counted in optimizer steps (`cosine_lr(steps: 1000)`).
    case schedule(LearningRateSchedule)
    case dataset(Dataset)
    case history(History)
    case table(Table)
    /// A figure from `plot`, `bars`, `images`, `confusion`, `boundary`, ...; drawn by each front end.
    case plot(Figure)
    /// A formula in LaTeX, from `latex(f)`.
    case formula(String)
    /// `a..b` or `a..<b` over whole numbers.
    case range(Int, Int)
    /// A model's traced forward pass, from `graph(m)`: shown as a table, drawn by `plot`.
    case graph(ModelGraph)
    /// Lines of text to model one character at a time (`names()`, `text(path)`, `samples(...)`).
    case corpus(Corpus)
    /// A character vocabulary with its end mark (`vocab(corpus)`).
    case vocab(Vocabulary)

    /// Equality as `==` gives it for values that are not tensors: by content for numbers, strings,
    /// lists, tuples, records and ranges (a tensor inside by its shape and values), by identity for
    /// models, optimizers and histories (datasets are never equal: compare their x and y).
    func isEqual(to other: Value) -> Bool {
        switch (self, other) {
        case (.none, .none): return true
        case (.number(let a), .number(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.tensor(let a), .tensor(let b)): return a.value == b.value
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isEqual(to: $1) }
        case (.record(let a), .record(let b)):
            // By name, whatever the fields' order, as Python's dicts compare.
            return a.fields.count == b.fields.count
                && a.fields.allSatisfy { field in b[field.name].map { field.value.isEqual(to: $0) } ?? false }
        case (.range(let a0, let a1), .range(let b0, let b1)): return a0 == b0 && a1 == b1
        case (.model(let a), .model(let b)): return a === b
        case (.optimizer(let a), .optimizer(let b)): return a === b
        case (.history(let a), .history(let b)): return a === b
        case (.formula(let a), .formula(let b)): return a == b
        default: return false
        }
    }

    /// A function's name, for messages; other values give their type.
    var functionName: String {
        if case .function(let f) = self { return f.name }
        return typeName
    }

    /// The type's name as users see it in messages and `:type`.
    public var typeName: String {
        switch self {
        case .none: return "none"
        case .number: return "number"
        case .bool: return "bool"
        case .string: return "string"
        case .tensor: return "tensor"
        case .list: return "list"
        case .tuple: return "tuple"
        case .record: return "record"
        case .function: return "function"
        case .model: return "model"
        case .optimizer: return "optimizer"
        case .schedule: return "schedule"
        case .dataset: return "dataset"
        case .history: return "history"
        case .table: return "table"
        case .plot: return "plot"
        case .formula: return "formula"
        case .range: return "range"
        case .graph: return "graph"
        case .corpus: return "corpus"
        case .vocab: return "vocab"
        }
    }
}

/// Named fields in the order they were written.
public struct Record {
    public var fields: [(name: String, value: Value)]

    public init(_ fields: [(name: String, value: Value)]) { self.fields = fields }

    public subscript(name: String) -> Value? {
        get { fields.first { $0.name == name }?.value }
        set {
            if let i = fields.firstIndex(where: { $0.name == name }) {
                if let newValue { fields[i].value = newValue } else { fields.remove(at: i) }
            } else if let newValue {
                fields.append((name, newValue))
            }
        }
    }
}

/// Something callable: a user function with its captured scope, or a builtin.
public enum Function {
    case closure(Closure)
    case builtin(Builtin)

    public var name: String {
        switch self {
        case .closure(let c): return c.declaration.name ?? "<fn>"
        case .builtin(let b): return b.name
        }
    }
}

/// A user-defined function and the scope it was defined in.
public final class Closure {
    public let declaration: FunctionDecl
    /// The scope it was made in (nil only while it is being freed).
    private var scope: Environment?
    /// The source the function was written in, for errors raised inside it.
    let sourceName: String

    init(_ declaration: FunctionDecl, environment: Environment, sourceName: String) {
        self.declaration = declaration
        self.scope = environment
        self.sourceName = sourceName
    }

    var environment: Environment { scope ?? Environment() }

    /// Scopes of freed closures waiting to be let go, and the thread letting them go.
    nonisolated(unsafe) private static var freed: [Environment] = []
    nonisolated(unsafe) private static var freeingThread: pthread_t?
    private static let freeing = NSLock()

    /// Frees a chain of closures one at a time. A closure's scope holds the closure made before it
    /// (`for i in 0..<30000 { let g = f; f = fn(x) = g(x) }`): freed the plain way, each closure
    /// freed its scope inside its own release, 30,000 releases deep, and the stack ran out. Here the
    /// first closure freed lets the scopes go in a loop, and those freed inside it only queue theirs.
    deinit {
        let me = pthread_self()
        Closure.freeing.lock()
        if let thread = Closure.freeingThread {
            // Inside the loop below on this thread: queue it. (On another thread: as before.)
            if pthread_equal(thread, me) != 0 { queueScope() }
            Closure.freeing.unlock()
            return
        }
        guard queueScope() else {
            Closure.freeing.unlock()
            return
        }
        Closure.freeingThread = me
        Closure.freeing.unlock()
        while true {
            Closure.freeing.lock()
            let next = Closure.freed.popLast()
            if next == nil { Closure.freeingThread = nil }
            Closure.freeing.unlock()
            guard next != nil else { return }
            // `next` goes here, outside the lock: its closures queue their scopes.
        }
    }

    /// Moves the scope to the queue, so that nothing else in `deinit` holds it; under `freeing`.
    @discardableResult
    private func queueScope() -> Bool {
        guard let taken = scope else { return false }
        Closure.freed.append(taken)
        scope = nil
        return true
    }
}

/// A model: a network of layers that can be called on a tensor, trained and saved.
public final class Model {
    public let network: Sequential
    public var name: String?
    /// Made by a layer builtin (`linear(64, 10)`): as a member of another model it is named like
    /// PyTorch's bare module (`lin.weight`), not like a one-item `nn.Sequential` (`lin.0.weight`).
    public let isLayer: Bool
    /// How the model was pruned ("weights" or "channels"), so it is not pruned twice.
    public var pruning: String?
    /// For a model pruned by channels: each changed weight's shape before, by parameter name.
    public var shapesBeforePruning: [String: [Int]] = [:]

    public init(_ network: Sequential, name: String? = nil, isLayer: Bool = false) {
        self.network = network
        self.name = name
        self.isLayer = isLayer && network.layers.count == 1
    }

    /// `870 parameters`, with how many are frozen when some are.
    var countText: String {
        if Quantizer.isQuantized(network) {
            return
                "int8 model: \(Quantizer.parameterCount(network)) weights and biases in \(Quantizer.storedBytes(network)) bytes"
        }
        let total = network.parameterCount
        let trainable = network.trainableCount
        var text = trainable == total ? "\(total) parameters" : "\(total) parameters (\(total - trainable) frozen)"
        // A pruned model's zeros are still parameters, and still in the file: say how many are not.
        // Masks say so, not how this value was made: a qat() copy of a pruned model keeps them.
        if network.parameters.contains(where: { $0.mask != nil }) {
            text += ", \(Comparison.nonZeroParameters(network)) not zero"
        }
        return text
    }

    /// `train` or `eval`: what dropout and batch norm do when the model is called.
    var modeText: String { Modes.describe(module) }

    /// What this model is as a member of another: its one layer, or the whole sequence.
    var module: Layer { isLayer ? network.layers[0] : network }
}

/// Rows of cells under named columns, shown as aligned text (and HTML in notebooks).
public struct Table {
    public var columns: [String]
    public var rows: [[String]]
    public var title: String?
}
