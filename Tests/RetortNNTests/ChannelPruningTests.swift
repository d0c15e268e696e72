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

/// Removing attention heads computes what switching them off computes: the pruned layer is the
/// original with the heads' columns of the output projection zeroed, only smaller.
final class HeadPruningTests: XCTestCase {
    func testPrunedHeadsEqualTheOriginalWithThoseHeadsSilenced() throws {
        var g = RandomGenerator(seed: 11)
        let attention = try SelfAttention(12, heads: 4, causal: true, generator: &g)
        let reference = try XCTUnwrap(attention.copy() as? SelfAttention)
        let pruned = try attention.keeping(heads: [3, 1])
        XCTAssertEqual(pruned.heads, 2)
        XCTAssertEqual(pruned.headSize, 3, "heads keep their size")
        XCTAssertEqual(pruned.namedParameters.map(\.variable.shape), [[18, 12], [18], [12, 6], [12]])
        // Heads 0 and 2 off: their columns (0..<3 and 6..<9) of c_proj contribute nothing.
        let projection = try XCTUnwrap(reference.projection as? Linear)
        projection.weight.update { w in
            w.withUnsafeMutableBufferPointer { v in
                for r in 0..<12 { for c in [0, 1, 2, 6, 7, 8] { v[r * 12 + c] = 0 } }
            }
        }
        let x = Variable(g.normal([3, 5, 12]))
        let expected = try reference.forward(x).value.scalars
        let actual = try pruned.forward(x).value.scalars
        for (a, e) in zip(actual, expected) { XCTAssertEqual(a, e, accuracy: 1e-5) }
        XCTAssertThrowsError(try attention.keeping(heads: [])) { error in
            XCTAssertTrue("\(error)".contains("at least one"), "\(error)")
        }
        XCTAssertThrowsError(try attention.keeping(heads: [4]))
    }

    func testHeadPruningThroughAGPTKeepsItsWidthAndRanksByImportance() throws {
        var g = RandomGenerator(seed: 5)
        let model = try GPT.make(vocabulary: 11, block: 8, layers: 2, heads: 4, width: 16, generator: &g)
        let layers = HeadPruning.layers(model)
        XCTAssertEqual(layers.map(\.name), ["transformer.h.0.attn", "transformer.h.1.attn"])
        let first = layers[0].layer
        let importance = Importance.magnitude([
            try XCTUnwrap(first.qkv as? Linear).weight, try XCTUnwrap(first.projection as? Linear).weight,
        ])
        let scores = HeadPruning.scores(first, qkv: importance[0], projection: importance[1])
        XCTAssertEqual(scores.count, 4)
        // Head 2's score is the L1 norm of its 3 × 4 rows of c_attn and its 4 columns of c_proj.
        let w = try XCTUnwrap(first.qkv as? Linear).weight.value.scalars
        let p = try XCTUnwrap(first.projection as? Linear).weight.value.scalars
        var head2: Float = 0
        for part in 0..<3 { for r in (part * 16 + 8)..<(part * 16 + 12) { for c in 0..<16 { head2 += abs(w[r * 16 + c]) } } }
        for r in 0..<16 { for c in 8..<12 { head2 += abs(p[r * 16 + c]) } }
        XCTAssertEqual(scores[2], head2, accuracy: 1e-3)
        let changes = try HeadPruning.apply(model, keeping: [ObjectIdentifier(first): [0, 2]])
        XCTAssertEqual(changes.map(\.name), ["transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight"])
        XCTAssertEqual(HeadPruning.layers(model).map(\.layer.heads), [2, 4])
        let logits = try model.forward(Variable(Tensor(shape: [2, 8]) { v in for i in 0..<16 { v[i] = Float(i % 11) } }))
        XCTAssertEqual(logits.shape, [2, 8, 11])
    }
}
