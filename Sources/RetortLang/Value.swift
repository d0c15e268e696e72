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
    case dataset(Dataset)
    case history(History)
    case table(Table)
    /// A figure from `plot`, `bars`, `images`, `confusion`, `boundary`, ...; drawn by each front end.
    case plot(Figure)
    /// A formula in LaTeX, from `latex(f)`.
    case formula(String)
    /// `a..b` or `a..<b` over whole numbers.
    case range(Int, Int)

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
        case .dataset: return "dataset"
        case .history: return "history"
        case .table: return "table"
        case .plot: return "plot"
        case .formula: return "formula"
        case .range: return "range"
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
    let environment: Environment

    init(_ declaration: FunctionDecl, environment: Environment) {
        self.declaration = declaration
        self.environment = environment
    }
}

/// A model: a network of layers that can be called on a tensor, trained and saved.
public final class Model {
    public let network: Sequential
    public var name: String?

    public init(_ network: Sequential, name: String? = nil) {
        self.network = network
        self.name = name
    }
}

/// An optimizer's settings; it binds to the parameters it first meets (in `fit` or `step`).
public final class OptimizerValue {
    public enum Kind: String { case sgd, adam, adamw }
    public let kind: Kind
    public let learningRate: Double
    public let momentum: Double
    public let nesterov: Bool
    public let weightDecay: Double
    public let betas: (Double, Double)
    public let schedule: LearningRateSchedule
    var optimizer: Optimizer?
    var steps = 0

    init(
        kind: Kind, learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0,
        betas: (Double, Double) = (0.9, 0.999), schedule: LearningRateSchedule = .constant
    ) {
        self.kind = kind
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.betas = betas
        self.schedule = schedule
    }

    /// The optimizer bound to `parameters`; parameters it has not seen yet join it.
    func bound(to parameters: [Variable]) throws -> Optimizer {
        if let optimizer {
            optimizer.include(parameters)
            return optimizer
        }
        let made: Optimizer
        switch kind {
        case .sgd:
            made = try SGD(
                parameters, learningRate: Float(learningRate), momentum: Float(momentum), nesterov: nesterov,
                weightDecay: Float(weightDecay))
        case .adam, .adamw:
            made = try Adam(
                parameters, learningRate: Float(learningRate), beta1: Float(betas.0), beta2: Float(betas.1),
                weightDecay: Float(weightDecay), decoupled: kind == .adamw)
        }
        optimizer = made
        return made
    }

    /// Applies one update with the scheduled learning rate.
    func step(_ parameters: [Variable]) throws {
        let optimizer = try bound(to: parameters)
        optimizer.learningRate = schedule.rate(at: steps, base: Float(learningRate))
        optimizer.step()
        steps += 1
    }
}

/// What training recorded, one entry per epoch: the loss and any other metrics.
public final class History {
    public var name: String
    public var epochs: [Int] = []
    public var series: [(name: String, values: [Double])] = [("loss", [])]
    /// Set when training stopped early (an interrupt), saying where.
    public var stoppedAt: String?

    public init(name: String) { self.name = name }

    func append(epoch: Int, metrics: [(String, Double)]) {
        epochs.append(epoch)
        for (name, value) in metrics {
            if let i = series.firstIndex(where: { $0.name == name }) {
                series[i].values.append(value)
            } else {
                series.append((name, Array(repeating: .nan, count: epochs.count - 1) + [value]))
            }
        }
    }

    public func values(_ name: String) -> [Double]? { series.first { $0.name == name }?.values }
}

/// Rows of cells under named columns, shown as aligned text (and HTML in notebooks).
public struct Table {
    public var columns: [String]
    public var rows: [[String]]
    public var title: String?
}
