import Foundation
import RetortTensor

/// Sampling text from a model that maps ids `[N, T]` to logits `[N, T, V]`, one token at a time.
///
/// When every layer is one the decoder knows (embeddings, positions, attention and transformer
/// blocks, and layers that act on each position alone), each step feeds only the newest token and
/// attention reads the keys and values it cached, so the time per token stays flat. Any other
/// layer (a function layer) makes each step run the whole sequence again: the same samples, slower.
///
/// On several threads (oneDNN's GEMM) the cached decoder shares the samples out: each thread runs
/// its group of them through the whole model, with its own caches, and the draws are made after,
/// in sample order, from the one generator. One hand-off per step where splitting each product
/// and pass had one per operation: two threads gave 0.67-0.81x one thread's tokens/s in the rounds
/// before, 1.13-1.38x after (docs/performance.md). A group's products have fewer rows, which can
/// change a logit's last bits, so a draw that falls on the boundary between two tokens can differ
/// between thread counts.
public enum Generation {
    public struct Settings: Sendable {
        /// Samples to draw.
        public var count: Int
        /// Logits are divided by it before sampling; 0 takes the most likely token (greedy).
        public var temperature: Float
        /// Sample among the k most likely tokens only; nil: all.
        public var topK: Int?
        /// Whether a sample ends at the end mark; false fills the block (a benchmark's fixed work).
        public var stopsAtEnd = true

        public init(count: Int, temperature: Float = 1, topK: Int? = nil, stopsAtEnd: Bool = true) {
            (self.count, self.temperature, self.topK, self.stopsAtEnd) = (count, temperature, topK, stopsAtEnd)
        }
    }

    /// Whether the cached decoder shares the samples out over the threads (on by default); tests
    /// and `retort bench --ab sample-groups` turn it off to compare.
    nonisolated(unsafe) public static var sharesSamples = true

    /// The fewest samples a group takes: fewer rows than this are not worth a thread.
    static let minimumGroup = 4

    /// The positions a model can take: its `Positions` layer's block, or nil when it has none.
    public static func block(of model: Layer) -> Int? { model.modules(of: Positions.self).first?.layer.block }

    /// Whether the decoder can run `model` a token at a time with cached keys and values: only
    /// when every attention is causal. A position of a non-causal one reads the positions after
    /// it, which a cache computed before them never saw: its samples differed from the model's own
    /// forward pass (0 of 200 alike, two non-causal layers).
    public static func isIncremental(_ model: Sequential) -> Bool {
        model.layers.allSatisfy(isIncremental) && model.modules(of: SelfAttention.self).allSatisfy { $0.layer.causal }
    }

    private static func isIncremental(_ layer: Layer) -> Bool {
        switch layer {
        case is Embedding, is Positions, is SelfAttention, is TransformerBlock, is LayerNorm, is Linear, is Activation,
            is Dropout, is TiedHead, is QuantizedLinear, is FakeQuantized:
            return true
        case let s as Sequential: return s.layers.allSatisfy(isIncremental)
        default: return false
        }
    }

    /// Token ids of `settings.count` samples, each starting after `prompt` (ids without the start
    /// mark) and ending at the end mark or when `block` positions are used; the returned ids are
    /// the prompt and what was sampled, without the start and end marks.
    public static func sample(
        _ model: Sequential, prompt: [Int], settings: Settings, block: Int, generator: inout RandomGenerator,
        shouldStop: () -> Bool = { false }
    ) throws -> [[Int]] {
        guard settings.count > 0 else { return [] }
        Contention.check()
        guard prompt.count + 1 < block else {
            throw TensorError(
                .argument, "generate", "a prompt of \(prompt.count) characters leaves no room in a block of \(block) positions")
        }
        // The samples' ids and a batch of logits per step: sized by the user's count, so checked first.
        try MemoryBudget.check("generate", [settings.count, block])
        let modes = Modes(of: model)
        model.isTraining = false
        defer { modes.restore() }
        let n = settings.count
        var sequences = [[Int]](repeating: [Vocabulary.endID] + prompt, count: n)
        var finished = [Bool](repeating: false, count: n)
        let incremental = isIncremental(model)
        let groups = incremental ? groupCount(model, samples: n) : 1
        var caches = (0..<groups).map { _ in [KeyValueCache?](repeating: nil, count: model.layers.count) }
        var fed = 0
        return try GradMode.withoutGradients {
            while !finished.allSatisfy({ $0 }), sequences[0].count < block {
                if shouldStop() { throw Cancellation.Stopped(op: "generate") }
                let logits: Tensor
                if incremental {
                    let new = sequences.map { Array($0[fed...]) }
                    let ids = try Tensor(shape: [n, new[0].count], scalars: new.flatMap { $0.map(Float.init) })
                    logits =
                        groups > 1
                        ? try stepInGroups(model, ids: ids, offset: fed, caches: &caches)
                        : try step(model, ids: ids, offset: fed, caches: &caches[0])
                    fed = sequences[0].count
                } else {
                    let ids = try Tensor(shape: [n, sequences[0].count], scalars: sequences.flatMap { $0.map(Float.init) })
                    logits = try model.forward(Variable(ids)).value
                }
                let (t, vocabulary) = (logits.shape[1], logits.shape[2])
                logits.withUnsafeBufferPointer { l in
                    for i in 0..<n {
                        guard !finished[i] else {
                            sequences[i].append(Vocabulary.endID)
                            continue
                        }
                        let row = Array(l[((i * t + t - 1) * vocabulary)..<((i * t + t) * vocabulary)])
                        let next = choose(row, settings: settings, generator: &generator)
                        sequences[i].append(next)
                        if next == Vocabulary.endID && settings.stopsAtEnd { finished[i] = true }
                    }
                }
            }
            return sequences.map { s in Array(s.dropFirst().prefix { $0 != Vocabulary.endID }) }
        }
    }

    /// One decoding step: `ids` are the newest positions, from `offset` on. `keepsWeights` as
    /// `SelfAttention.forward(_:cache:keepsWeights:)`.
    private static func step(
        _ model: Sequential, ids: Tensor, offset: Int, caches: inout [KeyValueCache?], keepsWeights: Bool = true
    ) throws -> Tensor {
        var x = Variable(ids)
        for (i, layer) in model.layers.enumerated() {
            switch layer {
            case let positions as Positions: x = try positions.forward(x, offset: offset)
            case let block as TransformerBlock: x = try block.forward(x, cache: &caches[i], keepsWeights: keepsWeights)
            case let attention as SelfAttention:
                x = try attention.forward(x, cache: &caches[i], keepsWeights: keepsWeights)
            default: x = try layer.forward(x)
            }
        }
        return x.value
    }

    /// How many groups the cached decoder shares `samples` out into: one per thread where oneDNN
    /// runs the GEMM (inside a group every product stays on its thread), at least `minimumGroup`
    /// samples each, and one where no thread may share the model's layers: a fake-quantised layer's
    /// observers, or a trace recording.
    static func groupCount(_ model: Sequential, samples: Int) -> Int {
        guard sharesSamples, BLAS.gemmLibrary == .oneDNN, Parallel.threshold > 0, Tape.recorder == nil,
            model.modules(of: FakeQuantized.self).isEmpty
        else { return 1 }
        return Swift.max(1, Swift.min(BLAS.threadCount, samples / minimumGroup))
    }

    /// One decoding step with the samples in `caches.count` groups of consecutive rows, one group
    /// per thread, each with its own caches; the logits of all of them in sample order. Each
    /// attention layer's `lastWeights` is then the whole batch's, as one pass would leave it.
    private static func stepInGroups(
        _ model: Sequential, ids: Tensor, offset: Int, caches: inout [[KeyValueCache?]]
    ) throws -> Tensor {
        let (groups, n, t) = (caches.count, ids.shape[0], ids.shape[1])
        var parts = [Result<Tensor, any Error>?](repeating: nil, count: groups)
        ids.withUnsafeBufferPointer { all in
            caches.withUnsafeMutableBufferPointer { cachesOf in
                parts.withUnsafeMutableBufferPointer { results in
                    Parallel.forEach(groups, cost: .max) { mine in
                        for group in mine {
                            let rows = n * group / groups..<n * (group + 1) / groups
                            results[group] = Result {
                                let slice = Array(all[rows.lowerBound * t..<rows.upperBound * t])
                                let ids = try Tensor(shape: [rows.count, t], scalars: slice)
                                return try step(model, ids: ids, offset: offset, caches: &cachesOf[group], keepsWeights: false)
                            }
                        }
                    }
                }
            }
        }
        let logits = try Tensor.concat(try parts.compactMap { try $0?.get() }, axis: 0)
        guard logits.rank == 3, logits.shape[0] == n else {
            throw TensorError(.shape, "generate", "the groups' logits \(formatShape(logits.shape)) do not hold \(n) samples")
        }
        for (i, layer) in model.layers.enumerated() {
            guard let attention = (layer as? TransformerBlock)?.attention ?? (layer as? SelfAttention) else { continue }
            let weights = caches.compactMap { $0[i]?.weights?.value }
            if weights.count == groups { attention.lastWeights = Variable(try Tensor.concat(weights, axis: 0)) }
        }
        return logits
    }

    /// The next id from one position's logits: greedy at temperature 0, else sampled from
    /// softmax(logits / temperature) over the top k and any tied with the k-th (nanoGPT's
    /// `logits < v[:, [-1]]` and Hugging Face's TopKLogitsWarper keep those too).
    static func choose(_ logits: [Float], settings: Settings, generator: inout RandomGenerator) -> Int {
        var order = Array(logits.indices)
        if settings.temperature == 0 { return order.max { logits[$0] < logits[$1] } ?? 0 }
        if let k = settings.topK, k < logits.count {
            order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            let kth = logits[order[Swift.max(k, 1) - 1]]
            order = Array(order.prefix { logits[$0] >= kth })
        }
        let peak = order.map { logits[$0] }.max() ?? 0
        let weights = order.map { expf((logits[$0] - peak) / settings.temperature) }
        let total = weights.reduce(0, +)
        var u = generator.nextUnit() * total
        for (id, w) in zip(order, weights) {
            u -= w
            if u < 0 { return id }
        }
        return order.last ?? 0
    }
}

extension Evaluation {
    /// The mean negative log-likelihood of the labels, in nats per labelled position (per token
    /// for a sequence model; −1 labels are not counted), computed in batches without a graph.
    public static func negativeLogLikelihood(_ model: Layer, on data: Dataset, batch: Int = 512) throws -> Double {
        var total: Double = 0
        var counted = 0
        for start in stride(from: 0, to: data.count, by: batch) {
            let part = data.subset(Array(start..<Swift.min(start + batch, data.count)))
            let logits = try predict(model, part.x)
            let labelled = part.y.scalars.filter { $0 >= 0 }.count
            guard labelled > 0 else { continue }
            let loss = try GradMode.withoutGradients { try Loss.crossEntropy(Variable(logits), target: Variable(part.y)) }
            total += Double(loss.value.scalar ?? .nan) * Double(labelled)
            counted += labelled
        }
        guard counted > 0 else { throw TensorError(.value, "nll", "the data has no labelled positions") }
        return total / Double(counted)
    }
}
