import RetortNN
import RetortTensor

/// A Retort function of one tensor used as a layer: `sequential(linear(64, 32), relu, linear(32, 10))`.
final class FunctionLayer: Layer {
    let function: Value
    let label: String
    unowned let interpreter: Interpreter
    let range: SourceRange
    var isTraining = true

    init(_ function: Value, label: String, interpreter: Interpreter, range: SourceRange) {
        self.function = function
        self.label = label
        self.interpreter = interpreter
        self.range = range
    }

    var description: String { label }
    var namedParameters: [(name: String, variable: Variable)] { [] }
    func copy() -> Layer { self }

    func forward(_ input: Variable) throws -> Variable {
        let result = try interpreter.callFunction(function, [.tensor(input)], at: range)
        guard case .tensor(let t) = result else {
            throw interpreter.diagnostic(
                .type, "the layer \(label) must return a tensor, got \(describeShort(result))", at: range)
        }
        return t
    }
}
