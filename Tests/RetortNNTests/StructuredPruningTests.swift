import RetortTensor
import XCTest

@testable import RetortNN

/// Removing channels computes what zeroing them computes: the pruned model is the original with
/// those channels switched off, only smaller.
final class StructuredPruningTests: XCTestCase {
    /// Zeros output channel `c` of a Linear or Conv2d (weights and bias) and of the BatchNorm after it.
    private func silence(_ layers: [Layer], at index: Int, channels: [Int]) {
        var targets = [layers[index]]
        if index + 1 < layers.count, layers[index + 1] is BatchNorm { targets.append(layers[index + 1]) }
        for p in targets.flatMap({ $0.namedParameters.map(\.variable) }) {
            p.update { value in
                let inner = value.count / value.shape[0]
                value.withUnsafeMutableBufferPointer { v in
                    for c in channels { for k in 0..<inner { v[c * inner + k] = 0 } }
                }
            }
        }
    }

    func testPrunedModelEqualsTheOriginalWithChannelsZeroed() throws {
        var g = RandomGenerator(seed: 7)
        let model = Sequential([
            Conv2d(2, 6, kernel: 3, padding: 1, generator: &g), BatchNorm(6), Activation(.relu), Pool2d(.max, kernel: 2),
            Flatten(), Linear(6 * 4 * 4, 12, generator: &g), Activation(.relu), Linear(12, 3, generator: &g),
        ])
        model.isTraining = true
        _ = try model.forward(Variable(g.normal([16, 2, 8, 8])))  // running statistics that are not 0 and 1
        model.isTraining = false
        let reference = model.copied()
        let importance: [Int: [Float]] = [0: [5, 1, 4, 0, 3, 2], 5: (0..<12).map { Float(($0 * 7) % 12) }]
        let changes = try StructuredPruning.prune(model, amount: 0.5, importance: importance)
        XCTAssertEqual(changes.map(\.name), ["0", "1", "5", "7"])
        XCTAssertEqual((model.layers[0] as? Conv2d)?.weight.shape, [3, 2, 3, 3])
        XCTAssertEqual((model.layers[5] as? Linear)?.weight.shape, [6, 3 * 4 * 4])
        XCTAssertEqual((model.layers[7] as? Linear)?.weight.shape, [3, 6])
        // Lowest scores go: filters 3, 1, 5; hidden units with (7j mod 12) < 6.
        silence(reference.layers, at: 0, channels: [1, 3, 5])
        silence(reference.layers, at: 5, channels: (0..<12).filter { ($0 * 7) % 12 < 6 })
        // The BatchNorm of a silenced filter must output 0: its shift and scale go too.
        let x = g.normal([5, 2, 8, 8])
        let expected = try reference.forward(Variable(x)).value.scalars
        let actual = try model.forward(Variable(x)).value.scalars
        for (a, e) in zip(actual, expected) { XCTAssertEqual(a, e, accuracy: 1e-5) }
        XCTAssertLessThan(model.parameterCount, reference.parameterCount)
    }

    func testRefusesWhatItCannotFollow() {
        var g = RandomGenerator(seed: 1)
        XCTAssertThrowsError(
            try StructuredPruning.prune(Sequential([Linear(3, 2, generator: &g)]), amount: 0.5, importance: [:]))
        XCTAssertThrowsError(
            try StructuredPruning.prunableLayers(
                Sequential([Linear(3, 4, generator: &g), LayerNorm([4]), Linear(4, 2, generator: &g)])))
    }
}
