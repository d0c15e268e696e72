import RetortTensor
import XCTest

@testable import RetortNN

/// Removing channels computes what zeroing them computes: the pruned model is the original with
/// those channels switched off, only smaller.
final class ChannelPruningTests: XCTestCase {
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
        let plan = try ChannelPruning.plan(model, input: g.normal([1, 2, 8, 8]))
        XCTAssertEqual(plan.groups.map { $0.producers.map(\.name) }, [["0"], ["5"], ["7"]])
        XCTAssertEqual(plan.groups.map { $0.lockedBecause == nil }, [true, true, false])
        let changes = try ChannelPruning.apply(
            plan, to: model, keeping: [0: [0, 2, 4], 1: (0..<12).filter { ($0 * 7) % 12 >= 6 }])
        XCTAssertEqual(changes.map(\.name).sorted(), ["0", "1", "5", "7"])
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

    /// A residual add ties the channels on its two sides: both layers lose the same channels, and
    /// the result is still the original with those channels zeroed.
    func testAResidualAddPrunesBothSidesTogether() throws {
        var g = RandomGenerator(seed: 3)
        let first = Linear(6, 8, generator: &g)
        let inner = Linear(8, 8, generator: &g)
        let last = Linear(8, 3, generator: &g)
        let residual = Residual(inner)
        let model = Sequential([first, Activation(.relu), residual, last])
        let reference = model.copied()
        let plan = try ChannelPruning.plan(model, input: g.normal([1, 6]))
        XCTAssertEqual(plan.prunable.count, 1)
        XCTAssertEqual(Set(plan.prunable[0].producers.map(\.name)), ["0", "2.inner"])
        _ = try ChannelPruning.apply(plan, to: model, keeping: [0: [1, 2, 5, 6]])
        XCTAssertEqual((model.layers[0] as? Linear)?.weight.shape, [4, 6])
        XCTAssertEqual(residual.inner.namedParameters[0].variable.shape, [4, 4])
        XCTAssertEqual((model.layers[3] as? Linear)?.weight.shape, [3, 4])
        // Zeroing channels 0, 3, 4, 7 of both producers gives the same outputs.
        let refLayers = reference.layers
        for layer in [refLayers[0], (refLayers[2] as? Residual)?.inner].compactMap({ $0 }) {
            for p in layer.namedParameters.map(\.variable) {
                p.update { value in
                    let inner = value.count / value.shape[0]
                    value.withUnsafeMutableBufferPointer { v in
                        for c in [0, 3, 4, 7] { for k in 0..<inner { v[c * inner + k] = 0 } }
                    }
                }
            }
        }
        let x = g.normal([5, 6])
        let expected = try reference.forward(Variable(x)).value.scalars
        let actual = try model.forward(Variable(x)).value.scalars
        for (a, e) in zip(actual, expected) { XCTAssertEqual(a, e, accuracy: 1e-5) }
    }

    func testLeavesWholeWhatItCannotFollow() throws {
        var g = RandomGenerator(seed: 1)
        let single = try ChannelPruning.plan(Sequential([Linear(3, 2, generator: &g)]), input: g.normal([1, 3]))
        XCTAssertEqual(single.prunable.count, 0)
        let normed = try ChannelPruning.plan(
            Sequential([Linear(3, 4, generator: &g), LayerNorm([4]), Linear(4, 2, generator: &g)]), input: g.normal([1, 3]))
        XCTAssertEqual(normed.prunable.count, 0)
        XCTAssertEqual(normed.groups[0].lockedBecause?.contains("layer_norm"), true)
        // A residual onto the model's input cannot lose channels the input has.
        let onInput = try ChannelPruning.plan(
            Sequential([Residual(Linear(4, 4, generator: &g)), Linear(4, 2, generator: &g)]), input: g.normal([1, 4]))
        XCTAssertEqual(onInput.prunable.count, 0)
    }
}

/// `x + relu(inner(x))`, a residual block holding one child, as a function layer holds a captured layer.
private final class Residual: Layer {
    private(set) var inner: Layer
    var isTraining = true
    init(_ inner: Layer) { self.inner = inner }
    var description: String { "Residual(\(inner.description))" }
    var namedParameters: [(name: String, variable: Variable)] { inner.namedParameters.map { ("inner.\($0.name)", $0.variable) } }
    var children: [(name: String, layer: Layer)] { [("inner", inner)] }
    func replaceChild(_ name: String, with layer: Layer) throws { inner = layer }
    func copy() -> Layer { Residual(inner.copy()) }
    func forward(_ input: Variable) throws -> Variable { try input + inner.forward(input).relu() }
}
