import ArgumentParser
import Foundation
import RetortNN
import RetortTensor

/// `retort demo`: knowledge distillation on the built-in digits, in the regime where it helps.
///
/// A teacher learns from every training label. Two small students then get the same number of
/// optimizer steps: one learns from the 10% of training examples that keep their labels, the other
/// learns from no labels at all, only from the teacher's temperature-softened outputs on every
/// training input. Soft targets carry what labels cannot: how much a 4 looks like a 9.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the distillation demo on the built-in digits and print the comparison table.")

    @Option(help: "Seeds to run (each changes the initialisation, the labelled subset and the batch order).")
    var seeds: [UInt64] = [1, 2, 3]
    @Option(help: "Fraction of training examples whose labels the students may see.") var labelled: Double = 0.1
    @Option(help: "Distillation temperature.") var temperature: Float = 4
    @Option(help: "Teacher epochs over the full training set.") var epochs: Int = 40

    struct Row {
        var teacherParameters = 0
        var studentParameters = 0
        var teacher: Float = 0
        var alone: Float = 0
        var distilled: Float = 0
        var agreementAlone: Float = 0
        var agreementDistilled: Float = 0
    }

    func run() throws {
        let started = Date()
        let all = try Dataset.digits()
        let (rawTrain, rawTest) = try all.split(0.8, seed: 7)
        let (mean, std) = try rawTrain.featureStatistics()
        let train = try rawTrain.standardized(mean: mean, std: std)
        let test = try rawTest.standardized(mean: mean, std: std)
        print("digits: \(all.count) images of 8×8, \(train.count) to train, \(test.count) to test (split seed 7)")
        print(BLASKernel.summary)
        print(
            "teacher 64-256-256-10 (dropout 0.2) on all labels; students 64-32-10 with \(Int(labelled * 100))% of labels or none")
        print("")
        var rows: [Row] = []
        for seed in seeds {
            rows.append(try runSeed(seed, train: train, test: test))
            let r = rows[rows.count - 1]
            print(
                String(
                    format: "seed %llu: teacher %.1f%%, student alone %.1f%%, distilled %.1f%%", seed, 100 * r.teacher,
                    100 * r.alone, 100 * r.distilled))
        }
        print("")
        printTable(rows)
        let gain = rows.map { $0.distilled - $0.alone }
        let wins = gain.filter { $0 > 0 }.count
        print("")
        let meanGain = 100 * gain.reduce(0, +) / Float(gain.count)
        let verdict = meanGain >= 0 ? "Distillation helped the student by" : "The distilled student stayed behind by"
        print(verdict + String(format: " %.1f points on average", abs(meanGain)) + " (better in \(wins) of \(gain.count) seeds).")
        print("Regime: the student alone sees \(Int((labelled * 100).rounded()))% of the labels; the distilled one learns")
        print("only from the teacher's T = \(temperature) soft targets on all \(train.count) training inputs.")
        if labelled < 1 { print("Try --labelled 1 to give the lone student every label.") }
        print(String(format: "Finished in %.1f s.", Date().timeIntervalSince(started)))
    }

    func runSeed(_ seed: UInt64, train: Dataset, test: Dataset) throws -> Row {
        var g = RandomGenerator(seed: seed)
        let teacher = multilayerPerceptron([64, 256, 256, 10], dropout: 0.2, generator: &g)
        try Training.fit(
            teacher, on: train, epochs: epochs, batchSize: 64, optimizer: try Adam(teacher.parameters, learningRate: 1e-3),
            generator: &g, loss: { out, _, y in try Loss.crossEntropy(out, target: Variable(y)) })

        // Both students start from the same weights and take the same number of steps.
        let alone = multilayerPerceptron([64, 32, 10], generator: &g)
        let distilled = multilayerPerceptron([64, 32, 10], generator: &g)
        for (a, b) in zip(alone.parameters, distilled.parameters) { b.update { $0 = a.value } }
        let stepsPerEpoch = (train.count + 63) / 64
        let labelledSet = train.subset(Array(g.permutation(train.count).prefix(Int(Double(train.count) * labelled))))
        let aloneEpochs = epochs * stepsPerEpoch / ((labelledSet.count + 63) / 64)
        try Training.fit(
            alone, on: labelledSet, epochs: aloneEpochs, batchSize: 64, optimizer: try Adam(alone.parameters, learningRate: 1e-3),
            generator: &g, loss: { out, _, y in try Loss.crossEntropy(out, target: Variable(y)) })

        let t = temperature
        try Training.fit(
            distilled, on: train, epochs: epochs, batchSize: 64, optimizer: try Adam(distilled.parameters, learningRate: 1e-3),
            generator: &g,
            loss: { out, x, _ in
                // Soft term only: T²·KL(softmax(teacher/T) ‖ softmax(student/T)); the labels go unused.
                let soft = try Variable(Training.predict(teacher, x) * (1 / t)).softmax(axis: 1)
                return try Loss.klDiv((out * (1 / t)).logSoftmax(axis: 1), soft, reduction: .batchmean) * (t * t)
            })

        return Row(
            teacherParameters: teacher.parameterCount, studentParameters: alone.parameterCount,
            teacher: try Training.accuracy(teacher, on: test), alone: try Training.accuracy(alone, on: test),
            distilled: try Training.accuracy(distilled, on: test),
            agreementAlone: try Training.agreement(teacher, alone, on: test.x),
            agreementDistilled: try Training.agreement(teacher, distilled, on: test.x))
    }

    func printTable(_ rows: [Row]) {
        func stats(_ values: [Float]) -> String {
            let m = values.reduce(0, +) / Float(values.count)
            let sd = (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(max(values.count - 1, 1))).squareRoot()
            return String(format: "%5.1f%% ± %.1f", 100 * m, 100 * sd)
        }
        func cell(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        let first = rows[0]
        print(cell("model", 28) + cell("labels seen", 13) + cell("params", 9) + cell("test accuracy", 17) + "agrees with teacher")
        print(
            cell("teacher 64-256-256-10", 28) + cell("100%", 13) + cell("\(first.teacherParameters)", 9)
                + cell(stats(rows.map(\.teacher)), 17) + "—")
        print(
            cell("student 64-32-10 alone", 28) + cell("\(Int((labelled * 100).rounded()))%", 13)
                + cell("\(first.studentParameters)", 9)
                + cell(stats(rows.map(\.alone)), 17) + stats(rows.map(\.agreementAlone)))
        print(
            cell("student 64-32-10 distilled", 28) + cell("0%", 13) + cell("\(first.studentParameters)", 9)
                + cell(stats(rows.map(\.distilled)), 17) + stats(rows.map(\.agreementDistilled)))
        print("(accuracy on the \(rows.count == 1 ? "test set" : "test set, mean ± sd over \(rows.count) seeds"))")
    }
}
