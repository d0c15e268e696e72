import RetortNN
import RetortTensor
import XCTest

final class LayerTests: XCTestCase {
    func testDefaultInitialisationIsPyTorchsKaimingUniform() {
        var g = RandomGenerator(seed: 1)
        let layer = Linear(256, 64, generator: &g)
        let bound = 1 / Float(256).squareRoot()
        let w = layer.weight.value.scalars
        XCTAssertTrue(w.allSatisfy { Swift.abs($0) <= bound })
        // U(−b, b) has standard deviation b/√3; 16,384 draws pin it within a few percent.
        let std = (w.map { $0 * $0 }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(std, bound / Float(3).squareRoot(), accuracy: 0.03 * bound)
        XCTAssertTrue(layer.bias!.value.scalars.allSatisfy { Swift.abs($0) <= bound })
    }

    func testSequentialNamesParametersLikeTorchStateDict() {
        var g = RandomGenerator(seed: 1)
        let model = Sequential([Linear(4, 3, generator: &g), Activation(.relu), BatchNorm(3), Linear(3, 2, generator: &g)])
        XCTAssertEqual(model.namedParameters.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "3.weight", "3.bias"])
        XCTAssertEqual(model.namedBuffers.map(\.name), ["2.running_mean", "2.running_var"])
        XCTAssertEqual(model.parameterCount, 4 * 3 + 3 + 3 + 3 + 3 * 2 + 2)
    }

    func testSameSeedGivesIdenticalModels() {
        var g1 = RandomGenerator(seed: 7)
        var g2 = RandomGenerator(seed: 7)
        let a = Linear(10, 5, generator: &g1)
        let b = Linear(10, 5, generator: &g2)
        XCTAssertEqual(a.weight.value, b.weight.value)
        XCTAssertEqual(a.bias!.value, b.bias!.value)
    }

    func testDropoutOnlyInTrainingAndKeepsTheMean() throws {
        var g = RandomGenerator(seed: 3)
        let dropout = Dropout(0.25, generator: &g)
        let x = Variable(.ones([10_000]))
        let y = try dropout(x).value.scalars
        let zeros = y.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 10_000, 0.25, accuracy: 0.02)
        XCTAssertEqual(y.reduce(0, +) / 10_000, 1, accuracy: 0.03)
        dropout.isTraining = false
        XCTAssertEqual(try dropout(x).value.scalars, x.value.scalars)
    }

    func testBatchNormUpdatesRunningStatisticsOnlyInTraining() throws {
        let bn = BatchNorm(2)
        let x = Variable(try Tensor(shape: [4, 2], scalars: [1, 10, 2, 20, 3, 30, 4, 40]))
        _ = try bn(x)
        assertClose(bn.runningMean.scalars, [0.25, 2.5], "running mean")
        // Unbiased variances of [1,2,3,4] and [10..40] are 5/3 and 500/3.
        assertClose(bn.runningVar.scalars, [0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 500 / 3], "running var")
        bn.isTraining = false
        let before = bn.runningMean
        _ = try bn(x)
        XCTAssertEqual(bn.runningMean, before)
    }

    func testConvNetShapesFlowThrough() throws {
        var g = RandomGenerator(seed: 0)
        let net = Sequential([
            Conv2d(1, 4, kernel: 3, padding: 1, generator: &g), Activation(.relu), Pool2d(.max, kernel: 2),
            Flatten(), Linear(4 * 4 * 4, 10, generator: &g),
        ])
        let y = try net(Variable(g.normal([2, 1, 8, 8])))
        XCTAssertEqual(y.shape, [2, 10])
    }
}
