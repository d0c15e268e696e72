import Foundation
import RetortTensor
import XCTest

@testable import RetortNN

/// The language-model pieces against PyTorch (fixtures from Tests/Fixtures/generate_lm.py): values
/// and gradients of embedding, layer norm, GELU, multi-head attention and token cross-entropy, a
/// nanoGPT-named model's logits from a safetensors file, and a short AdamW trajectory.
final class LanguageModelTests: XCTestCase {
    private func cases(_ op: String) throws -> [[String: Any]] {
        try loadCases("lm/ops").filter { $0["op"] as? String == op }
    }

    /// Runs `forward` on the case's inputs (all float inputs as parameters) and checks the output
    /// and, by back-propagating the cotangent, every input's gradient that the fixture gives.
    private func check(_ c: [String: Any], tolerance: Float = 1e-5, _ forward: ([Variable]) throws -> Variable) throws {
        let name = c["name"] as? String ?? "?"
        let grads = c["grads"] as? [Any] ?? []
        let inputs = try (c["inputs"] as? [Any] ?? []).enumerated().map { i, object in
            Variable(try tensor(object), requiresGrad: i < grads.count && !(grads[i] is NSNull))
        }
        let output = try forward(inputs)
        let expected = try tensor(c["output"])
        XCTAssertEqual(output.shape, expected.shape, name)
        assertClose(output.value.scalars, expected.scalars, rtol: tolerance, atol: tolerance, "\(name) output")
        let seed = c["cotangent"].map { try? tensor($0) } ?? nil
        try (output.value.count == 1 && seed == nil ? output : (output * Variable(seed ?? Tensor.ones(output.shape))).sum())
            .backward()
        for (i, g) in grads.enumerated() where !(g is NSNull) {
            assertClose(
                inputs[i].grad?.scalars ?? [], try tensor(g).scalars, rtol: tolerance, atol: tolerance, "\(name) grad \(i)")
        }
    }

    func testEmbeddingScatterAddsItsGradient() throws {
        for c in try cases("embedding") { try check(c) { try Variable.embedding($0[0], ids: $0[1]) } }
    }

    func testLayerNormOverTheLastAxis() throws {
        for c in try cases("layer_norm") {
            try check(c) { x in
                try Normalization.layerNorm(x[0], normalizedShape: [x[0].shape.last ?? 0], weight: x[1], bias: x[2])
            }
        }
    }

    func testExactGELU() throws {
        for c in try cases("gelu") { try check(c) { $0[0].gelu() } }
    }

    func testMultiHeadAttentionMatchesScaledDotProductAttention() throws {
        for c in try cases("causal_self_attention") {
            let args = c["args"] as? [String: Any] ?? [:]
            let heads = args["heads"] as? Int ?? 1
            let causal = args["is_causal"] as? Bool ?? true
            try check(c, tolerance: 2e-5) { x in
                var g = RandomGenerator(seed: 0)
                let layer = try SelfAttention(x[0].shape[2], heads: heads, causal: causal, generator: &g)
                // The layer's own parameters are the fixture's, so their gradients are the ones checked.
                try layer.replaceChild("c_attn", with: Linear(weight: x[1], bias: x[2]))
                try layer.replaceChild("c_proj", with: Linear(weight: x[3], bias: x[4]))
                return try layer(x[0])
            }
        }
    }

    func testTokenCrossEntropyIgnoresMinusOneAndWeighsClasses() throws {
        for c in try cases("cross_entropy_tokens") {
            try check(c) { x in
                try Loss.crossEntropy(x[0], target: x[1], weight: x.count > 2 ? x[2].value : nil)
            }
        }
    }

    private func gptFixture() throws -> [String: Any] {
        guard let url = Bundle.module.url(forResource: "gpt", withExtension: "json", subdirectory: "Fixtures/lm") else {
            throw TensorError("fixture", "missing Fixtures/lm/gpt.json")
        }
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    }

    private func loadedGPT() throws -> Sequential {
        let config = try gptFixture()["config"] as? [String: Any] ?? [:]
        var g = RandomGenerator(seed: 1)
        let model = try GPT.make(
            vocabulary: config["vocab_size"] as? Int ?? 0, block: config["block_size"] as? Int ?? 0,
            layers: config["n_layer"] as? Int ?? 0, heads: config["n_head"] as? Int ?? 0, width: config["n_embd"] as? Int ?? 0,
            generator: &g)
        guard let path = Bundle.module.url(forResource: "gpt", withExtension: "safetensors", subdirectory: "Fixtures/lm")?.path
        else { throw TensorError("fixture", "missing Fixtures/lm/gpt.safetensors") }
        try SafeTensors.load(from: path, into: model)
        model.isTraining = false
        return model
    }

    /// nanoGPT's own checkpoints hold the tied head twice, as lm_head.weight beside
    /// transformer.wte.weight: the same values load as the one tied weight; other values are a
    /// head of its own, refused by name (both were refused as a name the model does not have).
    func testACheckpointHoldingTheTiedHeadTooLoads() throws {
        var g = RandomGenerator(seed: 2)
        let other = try GPT.make(vocabulary: 11, block: 8, layers: 1, heads: 2, width: 16, generator: &g)
        var tensors = other.namedParameters.map { (name: $0.name, tensor: $0.variable.value) }
        let wte = try XCTUnwrap(tensors.first { $0.name == "transformer.wte.weight" }?.tensor)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-tied-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tied = folder.appendingPathComponent("tied.safetensors").path
        try SafeTensors.write(tensors + [(name: "lm_head.weight", tensor: wte)], to: tied)
        var target = RandomGenerator(seed: 3)
        let fresh = try GPT.make(vocabulary: 11, block: 8, layers: 1, heads: 2, width: 16, generator: &target)
        try SafeTensors.load(from: tied, into: fresh)
        XCTAssertEqual(fresh.namedParameters.first { $0.name == "transformer.wte.weight" }?.variable.value, wte)
        tensors.append((name: "lm_head.weight", tensor: wte * 2))
        let untied = folder.appendingPathComponent("untied.safetensors").path
        try SafeTensors.write(tensors, to: untied)
        XCTAssertThrowsError(try SafeTensors.load(from: untied, into: fresh)) { error in
            XCTAssertTrue("\(error)".contains("lm_head.weight in \(untied) is not transformer.wte.weight"), "\(error)")
        }
    }

    func testAnanoGPTCheckpointLoadsAndGivesItsLogits() throws {
        let model = try loadedGPT()
        XCTAssertEqual(
            Array(model.namedParameters.map(\.name).prefix(4)),
            ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias"])
        for c in try gptFixture()["logits"] as? [[String: Any]] ?? [] {
            let ids = try tensor(c["ids"])
            let expected = try tensor(c["logits"])
            let logits = try Evaluation.predict(model, ids)
            XCTAssertEqual(logits.shape, expected.shape)
            let largest = expected.scalars.map(Swift.abs).max() ?? 1
            assertClose(logits.scalars, expected.scalars, rtol: 0, atol: 1e-5 * largest, "\(c["name"] ?? "") logits")
        }
    }

    /// Five AdamW steps on fixed batches, in float32 as PyTorch ran them: the loss before each
    /// step and the logits after the last.
    func testATrainingTrajectoryFollowsPyTorch() throws {
        let model = try loadedGPT()
        model.isTraining = true
        let training = try gptFixture()["training"] as? [String: Any] ?? [:]
        let settings = training["optimizer"] as? [String: Any] ?? [:]
        let optimizer = try Adam(
            model.parameters, learningRate: Float(settings["lr"] as? Double ?? 0), beta1: 0.9, beta2: 0.999,
            weightDecay: Float(settings["weight_decay"] as? Double ?? 0), decoupled: true)
        let batches = training["batches"] as? [[String: Any]] ?? []
        let losses = training["losses"] as? [Double] ?? []
        XCTAssertEqual(batches.count, losses.count)
        for (batch, expected) in zip(batches, losses) {
            let logits = try model(Variable(try tensor(batch["ids"])))
            let loss = try Loss.crossEntropy(logits, target: Variable(try tensor(batch["labels"])))
            XCTAssertEqual(Double(loss.value.scalar ?? .nan), expected, accuracy: 1e-5)
            optimizer.zeroGrad()
            try loss.backward()
            optimizer.step()
        }
        model.isTraining = false
        let final = try tensor(training["final_logits"])
        let ids = try tensor(batches.first?["ids"])
        assertClose(try Evaluation.predict(model, ids).scalars, final.scalars, rtol: 0, atol: 1e-4, "logits after training")
    }
}

/// Text data and generation: sequences as makemore builds them, and decoding with the key-value
/// cache giving what running the whole sequence each step gives.
final class TextGenerationTests: XCTestCase {
    func testSequencesStartAndEndWithTheEndMark() throws {
        let corpus = Corpus(lines: ["emma", "ava"], name: "two")
        let v = try Vocabulary(corpus)
        XCTAssertEqual(v.count, 5)
        XCTAssertEqual(try v.encode("emma"), [2, 3, 3, 1])
        XCTAssertEqual(try v.decode([0, 2, 3, 3, 1, 0, 4]), "emma")
        let data = try Dataset.sequences(corpus, vocabulary: v, block: 6)
        XCTAssertEqual(data.x.shape, [2, 6])
        XCTAssertEqual(data.x.scalars, [0, 2, 3, 3, 1, 0, 0, 1, 4, 1, 0, 0])
        XCTAssertEqual(data.y.scalars, [2, 3, 3, 1, 0, -1, 1, 4, 1, 0, -1, -1])
        XCTAssertThrowsError(try Dataset.sequences(corpus, vocabulary: v, block: 4))
        XCTAssertThrowsError(try v.encode("zoe"))
    }

    /// A character is a code point, as makemore's `sorted(set(''.join(words)))` takes them: "é"
    /// precomposed and "e" with a combining accent are other tokens, and an emoji with a skin tone
    /// is two (Swift's grapheme clusters made each one token, so ids differed from Python's).
    func testTheVocabularyTakesCodePointsInCodePointOrder() throws {
        let corpus = Corpus(lines: ["caf\u{E9}", "cafe\u{301}", "\u{1F44D}\u{1F3FD}", "\u{212B}\u{C5}"], name: "unicode")
        let v = try Vocabulary(corpus)
        XCTAssertEqual(
            v.scalars.map(\.value), [0x61, 0x63, 0x65, 0x66, 0xC5, 0xE9, 0x301, 0x212B, 0x1F3FD, 0x1F44D])
        XCTAssertEqual(try v.encode("caf\u{E9}"), [2, 1, 4, 6])
        XCTAssertEqual(try v.encode("cafe\u{301}"), [2, 1, 4, 3, 7])
        XCTAssertEqual(try v.encode("\u{1F44D}\u{1F3FD}"), [10, 9])
        XCTAssertEqual(try v.encode("\u{212B}\u{C5}"), [8, 5])
        XCTAssertEqual(Array(try v.decode([0, 2, 1, 4, 3, 7, 0]).unicodeScalars), Array("cafe\u{301}".unicodeScalars))
        let data = try Dataset.sequences(corpus, vocabulary: v, block: 6)
        XCTAssertEqual(Array(data.x.scalars[6..<12]), [0, 2, 1, 4, 3, 7])
    }

    /// Lines ended by CRLF (a file from Windows), LF or CR are lines alike; empty ones are left out.
    func testACorpusSplitsLinesAtCRLFLFAndCR() {
        let corpus = Corpus.parse("anna\r\nbob\r\n\r\ncarl\nda\rem\r\n", name: "mixed")
        XCTAssertEqual(corpus.lines, ["anna", "bob", "carl", "da", "em"])
    }

    func testTheNamesCorpusIsBuiltIn() throws {
        let names = try Corpus.names()
        XCTAssertEqual(names.count, 29_910)
        XCTAssertEqual(Array(names.lines.prefix(3)), ["emma", "liam", "olivia"])
        XCTAssertEqual(try Vocabulary(names).count, 27)
    }

    func testCachedDecodingEqualsRunningTheWholeSequence() throws {
        var g = RandomGenerator(seed: 5)
        let model = try GPT.make(vocabulary: 7, block: 10, layers: 2, heads: 2, width: 8, generator: &g)
        XCTAssertTrue(Generation.isIncremental(model))
        var sampler = RandomGenerator(seed: 9)
        let greedy = try Generation.sample(
            model, prompt: [3], settings: .init(count: 4, temperature: 0), block: 10, generator: &sampler)
        // The same greedy decoding, the whole sequence each step.
        model.isTraining = false
        var expected: [Int] = [0, 3]
        while expected.count < 10 {
            let logits = try Evaluation.predict(model, try Tensor(shape: [1, expected.count], scalars: expected.map(Float.init)))
            let last = Array(logits.scalars.suffix(7))
            let next = last.indices.max { last[$0] < last[$1] } ?? 0
            expected.append(next)
            if next == 0 { break }
        }
        let cut = Array(expected.dropFirst().prefix { $0 != 0 })
        XCTAssertEqual(greedy, Array(repeating: cut, count: 4))
        // Sampling is reproducible from the seed.
        var a = RandomGenerator(seed: 3)
        var b = RandomGenerator(seed: 3)
        let first = try Generation.sample(model, prompt: [], settings: .init(count: 6, topK: 3), block: 10, generator: &a)
        let second = try Generation.sample(model, prompt: [], settings: .init(count: 6, topK: 3), block: 10, generator: &b)
        XCTAssertEqual(first, second)
    }

    /// A non-causal attention reads the positions after each one, which a cache made before them
    /// never saw: such a model decodes by running the whole sequence each step (golden
    /// language/gpt compares its samples with the same model's run whole).
    func testANonCausalModelDecodesWithoutACache() throws {
        var g = RandomGenerator(seed: 4)
        let wte = Embedding(7, 8, generator: &g)
        func model(causal: Bool) throws -> Sequential {
            Sequential([
                wte, Positions(10, 8, generator: &g), try SelfAttention(8, heads: 2, causal: causal, generator: &g),
                LayerNorm([8]), TiedHead(wte),
            ])
        }
        XCTAssertTrue(Generation.isIncremental(try model(causal: true)))
        XCTAssertFalse(Generation.isIncremental(try model(causal: false)))
    }

    /// top_k keeps the k most likely and every id tied with the k-th, as nanoGPT's
    /// `logits[logits < v[:, [-1]]] = -inf`: three ids tied at the top with k = 2 are drawn alike.
    func testTopKKeepsTheIdsTiedWithTheKth() {
        var g = RandomGenerator(seed: 1)
        var counts = [0, 0, 0, 0, 0]
        for _ in 0..<3000 {
            counts[Generation.choose([0, 1, 1, 1, 0], settings: .init(count: 1, topK: 2), generator: &g)] += 1
        }
        XCTAssertEqual(counts[0] + counts[4], 0)
        for id in 1...3 { XCTAssertGreaterThan(counts[id], 850, "\(counts)") }
    }

    /// On two threads (oneDNN's GEMM) the cached decoder shares the samples out, a group per thread
    /// through the whole model: the same samples as decoding the batch as one, greedy and drawn from
    /// one seed, and every attention layer's `lastWeights` the whole batch's. Repeated, so threads
    /// that wrote a layer's state at once (they did, and crashed) would show.
    func testSharingTheSamplesOverTwoThreadsGivesTheSameSamples() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount, Generation.sharesSamples)
        defer { (BLAS.gemmLibrary, BLAS.threadCount, Generation.sharesSamples) = saved }
        (BLAS.gemmLibrary, BLAS.threadCount) = (.oneDNN, 2)
        var g = RandomGenerator(seed: 12)
        let model = try GPT.make(vocabulary: 27, block: 12, layers: 2, heads: 2, width: 32, dropout: 0.1, generator: &g)
        XCTAssertEqual(Generation.groupCount(model, samples: 18), 2, "the case this test is for")
        let attention = model.modules(of: SelfAttention.self).map(\.layer)
        XCTAssertEqual(attention.count, 2)
        func run(shared: Bool, temperature: Float) throws -> (samples: [[Int]], weights: [[Float]]) {
            Generation.sharesSamples = shared
            for layer in attention { layer.lastWeights = nil }
            var sampler = RandomGenerator(seed: 4)
            let samples = try Generation.sample(
                model, prompt: [5], settings: .init(count: 18, temperature: temperature, stopsAtEnd: false), block: 12,
                generator: &sampler)
            let weights = try attention.map { layer in
                let w = try XCTUnwrap(layer.lastWeights).value
                XCTAssertEqual(w.shape, [18, 2, 1, 11])
                return w.scalars
            }
            return (samples, weights)
        }
        for temperature: Float in [0, 1] {
            let apart = try run(shared: false, temperature: temperature)
            for _ in 0..<20 {
                let shared = try run(shared: true, temperature: temperature)
                XCTAssertEqual(shared.samples, apart.samples, "temperature \(temperature)")
                for (a, b) in zip(shared.weights, apart.weights) {
                    XCTAssertEqual(a.count, b.count)
                    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5) }
                }
            }
        }
        XCTAssertTrue(model.isTraining, "generation leaves the model's mode as it found it")
    }

    /// Who gets groups: one per thread, at least four samples each, with oneDNN's GEMM; never a
    /// model with fake-quantised layers (their observers), one thread, or with the switch off.
    func testWhichDecodingSharesTheSamples() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount, Generation.sharesSamples)
        defer { (BLAS.gemmLibrary, BLAS.threadCount, Generation.sharesSamples) = saved }
        (BLAS.gemmLibrary, BLAS.threadCount) = (.oneDNN, 2)
        var g = RandomGenerator(seed: 13)
        let model = try GPT.make(vocabulary: 7, block: 8, layers: 1, heads: 2, width: 8, generator: &g)
        XCTAssertEqual(Generation.groupCount(model, samples: 64), 2)
        XCTAssertEqual(Generation.groupCount(model, samples: 8), 2)
        XCTAssertEqual(Generation.groupCount(model, samples: 7), 1)
        let fake = try Quantizer.prepare(model, stage: .quantizationAware, perChannel: true)
        XCTAssertEqual(Generation.groupCount(fake, samples: 64), 1)
        BLAS.threadCount = 1
        XCTAssertEqual(Generation.groupCount(model, samples: 64), 1)
        BLAS.threadCount = 2
        Generation.sharesSamples = false
        XCTAssertEqual(Generation.groupCount(model, samples: 64), 1)
        Generation.sharesSamples = true
        BLAS.gemmLibrary = .openBLAS
        XCTAssertEqual(Generation.groupCount(model, samples: 64), 1)
    }
}
