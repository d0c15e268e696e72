import RetortNN
import RetortTensor
import XCTest

/// End-to-end: the pieces together learn, and a distilled student learns from a teacher.
final class TrainingTests: XCTestCase {
    /// Two interleaved spirals: not linearly separable, so learning them needs the hidden layer.
    func spirals(_ n: Int, generator g: inout RandomGenerator) throws -> (Tensor, Tensor) {
        var points: [Float] = []
        var labels: [Float] = []
        for i in 0..<n {
            let label = i % 2
            let t = Float(i / 2) / Float(n / 2) * 3 * .pi
            let r = t / (3 * .pi) + 0.1
            let sign: Float = label == 0 ? 1 : -1
            points += [sign * r * cosf(t) + 0.02 * g.nextNormal(), sign * r * sinf(t) + 0.02 * g.nextNormal()]
            labels.append(Float(label))
        }
        return (try Tensor(shape: [n, 2], scalars: points), Tensor(labels))
    }

    func accuracy(_ model: Layer, _ x: Tensor, _ y: Tensor) throws -> Float {
        let predicted = try GradMode.withoutGradients { try model(Variable(x)).value.argmax(axis: 1) }
        return zip(predicted.scalars, y.scalars).filter { $0 == $1 }.count.float / Float(y.count)
    }

    func testAnMLPLearnsSpirals() throws {
        var g = RandomGenerator(seed: 11)
        let (x, y) = try spirals(400, generator: &g)
        let model = Sequential([
            Linear(2, 64, generator: &g), Activation(.tanh), Linear(64, 64, generator: &g), Activation(.tanh),
            Linear(64, 2, generator: &g),
        ])
        let optimizer = try Adam(model.parameters, learningRate: 0.01)
        let before = try accuracy(model, x, y)
        for _ in 0..<300 {
            let loss = try Loss.crossEntropy(model(Variable(x)), target: Variable(y))
            optimizer.zeroGrad()
            try loss.backward()
            optimizer.step()
        }
        let after = try accuracy(model, x, y)
        XCTAssertLessThan(before, 0.7)
        XCTAssertGreaterThan(after, 0.95, "accuracy went from \(before) to \(after)")
    }

    func testAStudentLearnsFromSoftTargetsAlone() throws {
        var g = RandomGenerator(seed: 5)
        let (x, y) = try spirals(400, generator: &g)
        let teacher = Sequential([
            Linear(2, 64, generator: &g), Activation(.tanh), Linear(64, 64, generator: &g), Activation(.tanh),
            Linear(64, 2, generator: &g),
        ])
        let teach = try Adam(teacher.parameters, learningRate: 0.01)
        for _ in 0..<300 {
            let loss = try Loss.crossEntropy(teacher(Variable(x)), target: Variable(y))
            teach.zeroGrad()
            try loss.backward()
            teach.step()
        }
        teach.zeroGrad()
        // The student never sees a label: only the teacher's temperature-softened distribution.
        let student = Sequential([
            Linear(2, 32, generator: &g), Activation(.tanh), Linear(32, 32, generator: &g), Activation(.tanh),
            Linear(32, 2, generator: &g),
        ])
        let learn = try Adam(student.parameters, learningRate: 0.01)
        let temperature: Float = 4
        let soft = try GradMode.withoutGradients { try (teacher(Variable(x)) * (1 / temperature)).softmax(axis: 1) }
        XCTAssertFalse(soft.requiresGrad, "the teacher's forward builds no graph")
        for _ in 0..<400 {
            let logq = try (student(Variable(x)) * (1 / temperature)).logSoftmax(axis: 1)
            let loss = try Loss.klDiv(logq, soft, reduction: .batchmean) * (temperature * temperature)
            learn.zeroGrad()
            try loss.backward()
            learn.step()
        }
        XCTAssertGreaterThan(try accuracy(student, x, y), 0.9)
        XCTAssertTrue(teacher.parameters.allSatisfy { $0.grad == nil }, "distillation gave the teacher no gradients")
    }
}

extension Int {
    var float: Float { Float(self) }
}
