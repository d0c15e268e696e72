import RetortNN
import RetortTensor

/// What one batch of `fit` or `distill` shares with the loss it calls: the forward passes already
/// run on the batch (so `features(m, x, k)` and `m(x)` in the loss reuse them: one dropout mask,
/// batch-norm statistics updated once) and the terms the loss names with `term`. A training call
/// installs a fresh one per batch on the interpreter and reads the terms back; nothing else is
/// shared between the loop and the builtins.
final class TrainingContext {
    /// Each model's input and every layer's output, by the model's network.
    private(set) var forwards: [ObjectIdentifier: (input: Variable, outputs: [Variable])] = [:]
    /// Parts of the loss named with `term(name, x)`, in the order they were computed.
    private(set) var terms: [(name: String, value: Double)] = []
    /// Whether the loss reads `attentions()`: its maps must then carry gradients.
    let keepsAttentionGraph: Bool

    init(keepsAttentionGraph: Bool = false) { self.keepsAttentionGraph = keepsAttentionGraph }

    /// Runs `model` on `input`, recording every layer's output for the loss.
    func forward(_ model: Model, _ input: Variable) throws -> Variable {
        let outputs = try SelfAttention.keepingWeightGraph(in: model.network, keepsAttentionGraph) {
            try model.network.forwardCollecting(input)
        }
        forwards[ObjectIdentifier(model.network)] = (input, outputs)
        return outputs[outputs.count - 1]
    }

    /// The outputs recorded for `model` on exactly this input variable, or nil.
    func recorded(_ model: Model, on input: Variable) -> [Variable]? {
        guard let record = forwards[ObjectIdentifier(model.network)], record.input === input else { return nil }
        return record.outputs
    }

    func log(_ name: String, _ value: Double) { terms.append((name, value)) }
}

extension Interpreter {
    /// Runs `body` with `context` installed for what it calls (the loss), then removes it.
    func withTrainingContext<R>(_ context: TrainingContext, _ body: () throws -> R) rethrows -> R {
        let previous = trainingContext
        trainingContext = context
        defer { trainingContext = previous }
        return try body()
    }
}

/// An optimizer value as the trainer steps it: the rate comes from the language (an `lr` given as
/// a function of p is called here), the update from the optimizer's state.
final class LanguageOptimizer: CheckpointedOptimizer {
    let value: OptimizerValue
    let interpreter: Interpreter
    let range: SourceRange
    let owner: Model

    init(_ value: OptimizerValue, interpreter: Interpreter, range: SourceRange, owner: Model) {
        (self.value, self.interpreter, self.range, self.owner) = (value, interpreter, range, owner)
    }

    func rate(progress: Double?) throws -> Double { try value.rate(progress: progress, interpreter: interpreter, at: range) }
    func step(_ parameters: [Variable], rate: Double) throws { try value.step(parameters, rate: rate) }
    var kind: String { value.kind.rawValue }
    var stepsTaken: Int { value.steps }
    func states(of parameters: [Variable]) -> [ParameterState?] { value.states(of: parameters) }
    func restore(_ states: [(Variable, ParameterState)], steps: Int) throws {
        try value.restore(states, steps: steps, owner: owner)
    }
}
