import Foundation
import RetortNN
import RetortTensor

/// The models the export tests write: each built from RetortNN layers with seeded weights, with
/// the shape of one input row (the batch goes in front).
enum ExportModels {
    struct Case {
        let name: String
        let model: Sequential
        /// One input without the batch axis: `[1, 8, 8]` for an image.
        let row: [Int]
    }

    /// Every float model, in the order the files are written.
    static func all() throws -> [Case] {
        [mlp(), try cnn(), try sequence(), try residual(), functional()]
    }

    /// Linear → ReLU → Linear: Gemm twice.
    static func mlp() -> Case {
        var g = RandomGenerator(seed: 11)
        let model = Sequential([Linear(16, 32, generator: &g), Activation(.relu), Linear(32, 10, generator: &g)])
        return Case(name: "mlp", model: model, row: [16])
    }

    /// Convolutions with batch norm (running statistics from a few training batches, affine
    /// weights not 1 and 0), max and average pooling (padding counted), SiLU, Flatten, Linear.
    static func cnn() throws -> Case {
        var g = RandomGenerator(seed: 12)
        let model = Sequential([
            Conv2d(1, 4, kernel: 3, padding: 1, generator: &g), BatchNorm(4), Activation(.relu), Pool2d(.max, kernel: 2),
            Conv2d(4, 6, kernel: 3, stride: 2, padding: 1, generator: &g), BatchNorm(6), Activation(.silu),
            Pool2d(.average, kernel: 3, stride: 1, padding: 1), Flatten(), Linear(24, 10, generator: &g),
        ])
        try settleBatchNorms(model, row: [1, 8, 8], generator: &g)
        return Case(name: "cnn", model: model, row: [1, 8, 8])
    }

    /// A sequence `[batch, 5, 12]`: Linear on a rank-3 input (MatMul and Add), LayerNorm, the
    /// other activations, a 2-D batch norm after Flatten.
    static func sequence() throws -> Case {
        var g = RandomGenerator(seed: 13)
        let norm = LayerNorm([12])
        norm.weight.update { $0 = g.normal([12], mean: 1, std: 0.2) }
        norm.bias.update { $0 = g.normal([12], std: 0.2) }
        let model = Sequential([
            Linear(12, 12, generator: &g), norm, Activation(.gelu), Linear(12, 8, generator: &g), Activation(.tanh),
            Flatten(), Linear(40, 16, generator: &g), BatchNorm(16), Activation(.leakyRelu(slope: 0.1)),
            Linear(16, 16, generator: &g), Activation(.sigmoid), Linear(16, 10, generator: &g),
        ])
        try settleBatchNorms(model, row: [5, 12], generator: &g)
        return Case(name: "sequence", model: model, row: [5, 12])
    }

    /// A convolution, then `x + relu(bn(conv(x)))` (a layer holding a child), pooling, Linear.
    static func residual() throws -> Case {
        var g = RandomGenerator(seed: 14)
        let block = Residual(
            Sequential([Conv2d(4, 4, kernel: 3, padding: 1, generator: &g), BatchNorm(4)]))
        let model = Sequential([
            Conv2d(2, 4, kernel: 3, padding: 1, generator: &g), Activation(.relu), block, Pool2d(.average, kernel: 2),
            Flatten(), Linear(36, 10, generator: &g),
        ])
        try settleBatchNorms(model, row: [2, 6, 6], generator: &g)
        return Case(name: "residual", model: model, row: [2, 6, 6])
    }

    /// A layer whose forward uses the tensor operations directly: permute, reshape, slices,
    /// concat, comparisons and where, clamp, softmax, reductions, gather from an expanded index,
    /// layer norm without weight or bias, a mean over the batch.
    static func functional() -> Case {
        var g = RandomGenerator(seed: 15)
        return Case(name: "functional", model: Sequential([Functional(generator: &g)]), row: [4, 6])
    }

    /// A language model: ids `[batch, sequence]`, any length up to `block`, to logits `[batch, sequence, vocabulary]`.
    struct LanguageCase {
        let name: String
        let model: Sequential
        let vocabulary: Int
        let block: Int

        /// `rows` sequences of `length` random ids.
        func ids(_ rows: Int, _ length: Int, _ generator: inout RandomGenerator) throws -> Tensor {
            try Tensor(
                shape: [rows, length], scalars: (0..<rows * length).map { _ in Float(generator.nextInt(below: vocabulary)) })
        }
    }

    /// Every float language model, in the order the files are written.
    static func languageModels() throws -> [LanguageCase] { [try gpt(), try nanoGPT(), try assembled()] }

    /// `GPT.make` with random weights, nanoGPT's initialisation made larger (N(0, 0.3) instead of
    /// 0.02) so the logits of different tokens are far apart and the int8 model's argmax means something.
    static func gpt() throws -> LanguageCase {
        var g = RandomGenerator(seed: 16)
        let model = try GPT.make(vocabulary: 27, block: 8, layers: 2, heads: 2, width: 16, generator: &g)
        for (name, p) in model.namedParameters where !name.contains(".ln_") && !name.contains("ln_f") {
            let fresh = g.normal(p.shape, std: 0.3)
            p.update { $0 = fresh }
        }
        model.isTraining = false
        return LanguageCase(name: "gpt", model: model, vocabulary: 27, block: 8)
    }

    /// The same architecture with the weights of nanoGPT's own model (Tests/RetortNNTests/Fixtures/lm,
    /// made by Tests/Fixtures/generate_lm.py).
    static func nanoGPT() throws -> LanguageCase {
        var g = RandomGenerator(seed: 17)
        let model = try GPT.make(vocabulary: 27, block: 8, layers: 2, heads: 2, width: 16, generator: &g)
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("RetortNNTests/Fixtures/lm/gpt.safetensors")
        try SafeTensors.load(from: fixture.path, into: model)
        model.isTraining = false
        return LanguageCase(name: "gpt-nanogpt", model: model, vocabulary: 27, block: 8)
    }

    /// A language model put together from the layers by hand: positions from 2 on, a
    /// bidirectional attention, a causal one with three heads, a block, a final norm and a head tied
    /// to the embedding.
    static func assembled() throws -> LanguageCase {
        var g = RandomGenerator(seed: 18)
        let tokens = Embedding(13, 12, std: 0.5, generator: &g)
        let model = Sequential([
            tokens, OffsetPositions(Positions(10, 12, std: 0.5, generator: &g), offset: 2),
            try SelfAttention(12, heads: 2, causal: false, generator: &g), try SelfAttention(12, heads: 3, generator: &g),
            try TransformerBlock(12, heads: 2, generator: &g), LayerNorm([12]), TiedHead(tokens),
        ])
        model.isTraining = false
        return LanguageCase(name: "language", model: model, vocabulary: 13, block: 8)
    }

    /// Training-mode passes so the running statistics are not 0 and 1, and affine weights that are
    /// not 1 and 0; then evaluation mode.
    static func settleBatchNorms(_ model: Sequential, row: [Int], generator g: inout RandomGenerator) throws {
        for (_, norm) in model.modules(of: BatchNorm.self) {
            let channels = norm.weight.shape[0]
            norm.weight.update { $0 = g.normal([channels], mean: 1, std: 0.3) }
            norm.bias.update { $0 = g.normal([channels], std: 0.3) }
        }
        model.isTraining = true
        for _ in 0..<3 { _ = try model.forward(Variable(g.normal([16] + row, mean: 0.5, std: 2))) }
        model.isTraining = false
    }
}

/// `x + relu(inner(x))`: a residual block holding one child, its mode passed on to it.
final class Residual: Layer {
    private(set) var inner: Layer
    init(_ inner: Layer) { self.inner = inner }
    var isTraining: Bool {
        get { inner.isTraining }
        set { inner.isTraining = newValue }
    }
    var description: String { "Residual(\(inner.description))" }
    var namedParameters: [(name: String, variable: Variable)] { inner.namedParameters.map { ("inner.\($0.name)", $0.variable) } }
    var namedBuffers: [(name: String, tensor: Tensor)] { inner.namedBuffers.map { ("inner.\($0.name)", $0.tensor) } }
    var children: [(name: String, layer: Layer)] { [("inner", inner)] }
    func replaceChild(_ name: String, with layer: Layer) throws { inner = layer }
    func copy() -> Layer { Residual(inner.copy()) }
    func forward(_ input: Variable) throws -> Variable { try input + inner.forward(input).relu() }
}

/// Tensor operations a layer's forward can use, for `[batch, 4, 6]` inputs; `[batch, 78]` out.
final class Functional: Layer {
    let projection: Variable
    var isTraining = true
    init(generator g: inout RandomGenerator) { projection = Variable(g.normal([4, 3]), requiresGrad: true) }
    private init(projection: Variable) { self.projection = projection }
    var description: String { "Functional()" }
    var namedParameters: [(name: String, variable: Variable)] { [("projection", projection)] }
    func copy() -> Layer { Functional(projection: projection.copiedParameter()) }

    func forward(_ x: Variable) throws -> Variable {
        let batch = x.shape[0]
        let projected = try x.transposed(1, 2).matmul(projection)  // [b, 6, 3]
        let flat = try projected.reshaped([-1, 18])
        let strided = try flat.sliced([SliceRange(), SliceRange(start: 1, end: 17, step: 3)])  // [b, 6]
        let tail = try flat.sliced([SliceRange(), SliceRange(start: -4)])  // [b, 4]
        let joined = try Variable.concat([strided, tail], axis: 1)  // [b, 10]
        let gated = try Variable.select(joined.compare(Variable.scalar(0), .gt), joined, joined * 0.1)
        let masked = try Variable.select(
            Variable(Tensor(shape: [1, 10], scalars: [1, 0, 1, 1, 0, 0, 1, 0, 1, 1])), gated, -gated)
        let unequal = try joined.compare(gated, .ne)
        let soft = try masked.clamp(min: -1, max: 1.5).softmax(axis: 1)
        let logSoft = try joined.logSoftmax(axis: 1)
        let stats = try Variable.concat(
            [
                joined.max(axis: 1, keepDims: true), joined.min(axis: 1, keepDims: true),
                joined.logSumExp(axes: [1], keepDims: true), joined.mean(axes: [1], keepDims: true),
            ], axis: 1)  // [b, 4]
        let index = try Variable(Tensor(shape: [1, 3], scalars: [0, 4, 9])).expanded(to: [batch, 3])
        let picked = try joined.gathered(axis: 1, index: index)  // [b, 3]
        let smooth = try (joined.abs() + 1).log().sqrt() - joined.abs().pow(Variable.scalar(1.5)) / (joined.exp() + 2)
        let waves = try (joined.sin() * joined.cos()).maximum(joined.tanh()).minimum(-joined.sigmoid() + 0.75)
        let normed = try RetortTensor.Normalization.layerNorm(joined, normalizedShape: [10], weight: nil, bias: nil)
        let total = try x.reshaped([batch, 2, 2, 6]).flattened(from: 2).sum(axes: [1, 2]).reshaped([batch, 1])
        // A mean over the batch: ReduceMean reads the batch size at run time (a scale by 1/batch would fix it).
        let centered = try joined - joined.mean(axes: [0], keepDims: true)
        // `%` as torch.remainder: the divisor's sign, either sign of divisor.
        let remainders = try Variable.concat(
            [joined.remainder(Variable.scalar(0.7)), (joined * 3).remainder(Variable.scalar(-0.3))], axis: 1)
        return try Variable.concat(
            [soft, logSoft, stats, picked, smooth, unequal, waves, normed, total, centered, remainders], axis: 1)
    }
}

/// Positions counted from `offset`, as generation after a prompt feeds them.
final class OffsetPositions: Layer {
    let positions: Positions
    let offset: Int
    var isTraining = true
    init(_ positions: Positions, offset: Int) { (self.positions, self.offset) = (positions, offset) }
    var description: String { "OffsetPositions(\(positions.description), from \(offset))" }
    var namedParameters: [(name: String, variable: Variable)] { positions.namedParameters }
    func copy() -> Layer { OffsetPositions(positions.copy() as? Positions ?? positions, offset: offset) }
    func forward(_ input: Variable) throws -> Variable { try positions.forward(input, offset: offset) }
}
