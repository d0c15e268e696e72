import Foundation
import RetortNN
import RetortTensor

/// Text, tokens, language-model layers, generation and their measures.
extension Builtins {
    static let languageRules = """
        A vocabulary is the corpus's characters plus the end mark "." (id 0): a sequence starts after an end mark and \
        ends with one, as makemore's do. sequences(corpus, v, block:) makes x [N, block] (the end mark, then the line's \
        ids) and y [N, block] (the ids, then the end mark); positions past the end are −1 in y and count for nothing in \
        cross_entropy, the KD losses, the metric and nll.
        """

    static let languageBuiltins: [Builtin] = textBuiltins + layerBuiltins + generationBuiltins

    static let textBuiltins: [Builtin] = [
        Builtin(
            "names", [], category: "data",
            summary:
                "The built-in corpus of 29,910 lowercase first names: the 2017 US Social Security list (public domain), most popular first; nearly makemore's names.txt.",
            example: "let (train, test) = split(names(), 0.9, seed: 1)"
        ) { call in
            do { return .corpus(try Corpus.names()) } catch { throw call.interpreter.wrap(error, at: call.range) }
        },
        Builtin(
            "text", [.init("path", .string)], category: "data",
            summary: "A UTF-8 file as a corpus, one example per line (empty lines left out); not UTF-8, or empty, is an error.",
            example: "let poems = text(\"haiku.txt\")"
        ) { call in
            do { return .corpus(try Corpus.read(try call.string("path"))) } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
        Builtin(
            "vocab", [.init("corpus", .corpus)], category: "data",
            summary:
                "The corpus's characters, sorted, after the end mark \".\" (id 0). A character is a Unicode code point, as Python's sorted(set(text)) takes them (\"é\" written as e and a combining accent is two), in code point order. "
                + languageRules,
            example: "let v = vocab(names())"
        ) { call in
            do { return .vocab(try Vocabulary(try call.corpus("corpus"))) } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
        Builtin(
            "encode", [.init("v", .vocab), .init("text", .string)], category: "data",
            summary: "The ids of the text's characters (no end marks); a character the vocabulary lacks is an error naming it.",
            example: "encode(v, \"emma\")"
        ) { call in
            let ids = try call.tensorOp { Variable(Tensor(try call.vocab("v").encode(try call.string("text")).map(Float.init))) }
            return ids
        },
        Builtin(
            "decode", [.init("v", .vocab), .init("ids", .wholeNumbers())], category: "data",
            summary: "The text of ids, up to the first end mark (a leading one, the start, is skipped).",
            example: "decode(v, [5, 13, 13, 1])"
        ) { call in
            do { return .string(try call.vocab("v").decode(try call.ints("ids"))) } catch {
                throw call.interpreter.wrap(error, at: call.range(of: "ids"))
            }
        },
        Builtin(
            "sequences", [.init("corpus", .corpus), .init("v", .vocab), .init("block", .wholeNumber(min: 1), .number(16))],
            category: "data",
            summary:
                "A next-character dataset: x [N, block] holds token ids, y [N, block] the next ids, −1 past the end. A line longer than block − 1 characters (it needs its end mark too) is refused, naming it, rather than cropped. fit, distill, batches and compare take it. "
                + languageRules,
            example: "let train_seq = sequences(train, v, block: 16)"
        ) { call in
            do {
                return .dataset(
                    try Dataset.sequences(
                        try call.corpus("corpus"), vocabulary: try call.vocab("v"), block: try call.int("block")))
            } catch { throw call.interpreter.wrap(error, at: call.range) }
        },
        Builtin(
            "distinct", [.init("samples", .corpus), .init("n", .wholeNumber(min: 1), .number(2))], category: "data",
            summary: "Distinct-n: the share of the samples' character n-grams that are distinct (1: no n-gram repeats).",
            example: "distinct(samples(teacher, v, n: 500), 2)"
        ) { call in
            let (corpus, n) = (try call.corpus("samples"), try call.int("n"))
            // Characters are code points, as the vocabulary's (and Python's) are.
            var seen = Set<[Unicode.Scalar]>()
            var total = 0
            for line in corpus.lines {
                let characters = Array(line.unicodeScalars)
                guard characters.count >= n else { continue }
                for i in 0...(characters.count - n) {
                    seen.insert(Array(characters[i..<(i + n)]))
                    total += 1
                }
            }
            guard total > 0 else { throw call.error("no sample has \(n) characters", kind: .argument, at: "samples") }
            return .number(Double(seen.count) / Double(total))
        },
        Builtin(
            "novel", [.init("samples", .corpus), .init("corpus", .corpus)], category: "data",
            summary:
                "The share of the samples that are not lines of the corpus (names the model made up, not learnt by heart); an empty sample (the end mark first) is no name, so not novel.",
            example: "novel(samples(teacher, v, n: 500), train)"
        ) { call in
            let (samples, corpus) = (try call.corpus("samples"), try call.corpus("corpus"))
            guard samples.count > 0 else { throw call.error("there are no samples", kind: .argument, at: "samples") }
            // Lines compared code point by code point, as Python's `in` compares them (Swift's == would
            // take "é" and "e" with a combining accent for the same line).
            let known = Set(corpus.lines.map { Array($0.unicodeScalars) })
            let made = samples.lines.filter { !$0.isEmpty && !known.contains(Array($0.unicodeScalars)) }
            return .number(Double(made.count) / Double(samples.count))
        },
    ]

    static let layerBuiltins: [Builtin] = [
        Builtin(
            "embedding", [.init("n", .wholeNumber(min: 1)), .init("d", .wholeNumber(min: 1))], category: "model",
            summary:
                "A lookup table of n vectors of width d (nn.Embedding; weights from N(0, 1)): ids of any shape give [..., d]. Its gradient scatter-adds into the rows used.",
            example: "let wte = embedding(27, 64)"
        ) { call in
            let (n, d) = (try call.int("n"), try call.int("d"))
            try budget(call, [n, d])
            return layer(call, Embedding(n, d, generator: &call.interpreter.generator))
        },
        Builtin(
            "positions", [.init("block", .wholeNumber(min: 1)), .init("d", .wholeNumber(min: 1))], category: "model",
            summary: "Learned positions: adds row t of a [block, d] table to position t of [N, T, d] (T ≤ block), nanoGPT's wpe.",
            example: "positions(16, 64)"
        ) { call in
            let (block, d) = (try call.int("block"), try call.int("d"))
            try budget(call, [block, d])
            return layer(call, Positions(block, d, generator: &call.interpreter.generator))
        },
        Builtin(
            "self_attention",
            [
                .init("d", .wholeNumber(min: 1)), .init("heads", .wholeNumber(min: 1), .number(1)),
                .init("causal", .bool, .bool(true)), .init("dropout", .fraction(includingOne: false), .number(0)),
            ],
            category: "model",
            summary:
                "Multi-head self-attention over [N, T, d]: one fused projection to queries, keys and values (c_attn, [3d, d]), softmax(q·kᵀ/√(d/heads)) with future positions masked out when causal (the numerics of F.scaled_dot_product_attention), the heads joined and projected (c_proj). dropout on the attention weights and the output, while training. heads must divide d.",
            example: "self_attention(64, heads: 4)"
        ) { call in
            let d = try call.int("d")
            try budget(call, [3 * d, d])
            do {
                return layer(
                    call,
                    try SelfAttention(
                        d, heads: try call.int("heads"), causal: try call.bool("causal"), dropout: try call.float("dropout"),
                        generator: &call.interpreter.generator))
            } catch let e as TensorError { throw call.error(e.message, at: "heads") }
        },
        Builtin(
            "tied", [.init("embedding", .model)], category: "model",
            summary:
                "An output layer tied to an embedding: logits x @ embeddingᵀ, nanoGPT's lm_head sharing wte. It owns no parameters: the embedding's weight is trained and saved once, under the embedding's name.",
            example: "sequential(wte, positions(16, 64), block, layer_norm(64), tied(wte))"
        ) { call in
            let model = try call.model("embedding")
            guard let table = model.network.layers.first as? Embedding, model.network.layers.count == 1 else {
                throw call.fail("embedding", "an embedding layer such as embedding(27, 64)")
            }
            return layer(call, TiedHead(table))
        },
        Builtin(
            "gpt",
            [
                .init("vocab", .oneOf([.vocab, .wholeNumber(min: 1)])), .init("block", .wholeNumber(min: 1)),
                .init("layers", .wholeNumber(min: 0), .number(4)), .init("heads", .wholeNumber(min: 1), .number(4)),
                .init("width", .wholeNumber(min: 1), .number(64)), .init("dropout", .fraction(includingOne: false), .number(0)),
            ],
            category: "model",
            summary:
                "A pre-norm transformer as nanoGPT's model.py builds it: token embedding (transformer.wte), learned positions (transformer.wpe), `layers` blocks (x + attn(ln_1(x)), then x + mlp(ln_2(x)) with a 4·width GELU MLP), a final layer norm and a head tied to wte. State-dict names are nanoGPT's, so its safetensors checkpoints load. Weights as nanoGPT initialises them (N(0, 0.02), residual projections scaled by 1/√(2·layers)). Called on ids [N, T] (T ≤ block) it gives logits [N, T, vocab]. features(m, x, k) reads layer k: 0 the tokens, 1 with positions, 2 after dropout, then each block.",
            example: "let teacher = gpt(vocab: v, block: 16, layers: 4, heads: 4, width: 64)"
        ) { call in
            let vocabulary: Int
            if case .vocab(let v) = call.value("vocab") { vocabulary = v.count } else { vocabulary = try call.int("vocab") }
            do {
                return .model(
                    Model(
                        try GPT.make(
                            vocabulary: vocabulary, block: try call.int("block"), layers: try call.int("layers"),
                            heads: try call.int("heads"), width: try call.int("width"), dropout: try call.float("dropout"),
                            generator: &call.interpreter.generator)))
            } catch let e as TensorError {
                throw call.error(e.message, kind: Diagnostic.Kind(e.kind), at: e.message.contains("heads") ? "heads" : nil)
            }
        },
        Builtin(
            "attentions", [.init("model", .model), .init("x", .tensor)], category: "model",
            summary:
                "The attention weights [N, heads, T, T] of every self-attention layer the model holds, in order, from its forward pass on x (the softmax weights; TinyBERT's code compares the scores before the softmax), for attention_mse. Inside a fit or distill loss, on the batch's x, they are the batch's one forward pass, with gradients for the student (in a step() loop, its own forward pass with gradients).",
            example: "attention_mse(attentions(student, x)[0], attentions(teacher, x)[3])"
        ) { call in
            let model = try call.model("model")
            let x = try call.tensor("x")
            let layers = model.network.modules(of: SelfAttention.self).map(\.layer)
            guard !layers.isEmpty else {
                throw call.error("\(model.name ?? "the model") has no self-attention layer", at: "model")
            }
            if call.interpreter.trainingContext?.recorded(model, on: x) == nil {
                // Its own forward pass: maps with gradients when gradients are on (a step() loop).
                _ = try call.tensorOp { try SelfAttention.keepingWeightGraph(in: model.network) { try model.network.forward(x) } }
            }
            return .list(layers.compactMap { $0.lastWeights.map { .tensor($0) } })
        },
    ]

    static let generationRules = """
        Sampling draws each next character from softmax(logits / temperature) over the top_k most likely and any tied \
        with the k-th, as nanoGPT (all when top_k is none; temperature 0 takes the most likely), in eval mode without gradients, until the end mark or the \
        block is full. Models built from embeddings, positions, causal attention and transformer blocks decode with a \
        key-value cache (the time per character stays flat), on several threads a group of samples per thread; others run the \
        whole sequence each step. With a seed the samples are reproducible at a given thread count and the session's \
        generator is left alone; without one they come from it. (Groups multiply fewer rows at a time, which can change \
        a logit's last bits, so a draw on the boundary between two characters can differ between thread counts.)
        """

    static let generationBuiltins: [Builtin] = [
        Builtin(
            "generate",
            [
                .init("model", .model), .init("v", .vocab), .init("n", .wholeNumber(min: 0), .number(10)),
                .init("prompt", .string, .string("")), .init("temperature", .number(.atLeast(0, finite: true)), .number(1)),
                .init("top_k", .optional(.wholeNumber(min: 1)), Value.none), .init("seed", .optional(.wholeNumber()), Value.none),
            ],
            category: "language",
            summary: "n samples from a language model, as a list of strings, each starting with the prompt. " + generationRules,
            example: "generate(teacher, v, n: 10, prompt: \"em\", temperature: 0.8)"
        ) { call in
            let (lines, _) = try sample(call)
            return .list(lines.map { .string($0) })
        },
        Builtin(
            "samples",
            [
                .init("model", .model), .init("v", .vocab), .init("n", .wholeNumber(min: 1), .number(1000)),
                .init("temperature", .number(.atLeast(0, finite: true)), .number(1)),
                .init("top_k", .optional(.wholeNumber(min: 1)), Value.none), .init("seed", .optional(.wholeNumber()), Value.none),
            ],
            category: "language",
            summary:
                "A corpus of n of the model's samples, for sequence-level KD (Kim & Rush 2016: distil on sequences(samples(teacher, v), v)) and for score, distinct and novel. "
                + generationRules,
            example: "let sampled = samples(teacher, v, n: 5000, seed: 1)"
        ) { call in
            let (lines, v) = try sample(call)
            let model = try call.model("model")
            return .corpus(Corpus(lines: lines, name: "samples of \(model.name ?? "the model")", vocabulary: v))
        },
        Builtin(
            "perplexity", [.init("model", .model), .init("data", .dataset)], category: "language",
            summary: "exp(nll(model, data)): the number of equally likely choices the model's uncertainty is worth, per token.",
            example: "perplexity(teacher, test_seq)"
        ) { call in
            .number(
                Foundation.exp(
                    try negativeLogLikelihood(call, try call.model("model"), try call.examples("data", for: "measure"))))
        },
        Builtin(
            "score", [.init("model", .model), .init("samples", .corpus), .init("v", .optional(.vocab), Value.none)],
            category: "language",
            summary:
                "The model's nll (nats per token) of a corpus of samples: how likely a teacher finds a student's samples. Each is laid out as sequences() lays a line out, so a sample that filled the block (no end mark) is scored with one after it. v defaults to the vocabulary the samples were drawn with.",
            example: "score(teacher, samples(student, v, n: 1000, seed: 2))"
        ) { call in
            let model = try call.model("model")
            let corpus = try call.corpus("samples")
            guard let v = try call.ifGiven("v", call.vocab) ?? corpus.vocabulary else {
                throw call.error("\(corpus.name) carries no vocabulary (it is not from samples()); pass v:", at: "samples")
            }
            guard let block = Generation.block(of: model.network) else {
                throw call.error("\(model.name ?? "the model") has no positions layer, so its block size is unknown", at: "model")
            }
            try checkVocabulary(call, model, v, at: call.isGiven("v") ? "v" : "samples")
            let data: Dataset
            do { data = try Dataset.sequences(corpus, vocabulary: v, block: block) } catch {
                throw call.interpreter.wrap(error, at: call.range(of: "samples"))
            }
            return .number(try negativeLogLikelihood(call, model, data))
        },
    ]

    /// Refuses a vocabulary whose size is not the model's number of logits per position: its ids
    /// would be read as other characters (a model of `.xyz` sampled through the names' vocabulary
    /// gave "abacbcc" for "xyxzyzz"), or overflow it with an error naming decode or embedding.
    static func checkVocabulary(_ call: BuiltinCall, _ model: Model, _ v: Vocabulary, at name: String) throws {
        let logits: Tensor
        do { logits = try Evaluation.predict(model.network, Tensor(shape: [1, 1], repeating: 0)) } catch {
            throw call.interpreter.wrap(error, at: call.range(of: "model"))
        }
        guard let outputs = logits.shape.last, outputs == v.count else {
            let symbols = (0..<v.count).map(v.symbol).joined()
            throw call.error(
                "\(model.name ?? "the model") gives \(logits.shape.last ?? 0) logits per position, but this vocabulary has "
                    + "\(v.count) symbols (\(symbols.prefix(40))\(symbols.count > 40 ? "…" : "")): the model was built for another one",
                at: name)
        }
    }

    /// Samples of the call's model: `n`, `prompt`, `temperature`, `top_k`, `seed` as `generate` reads them.
    static func sample(_ call: BuiltinCall) throws -> (lines: [String], vocabulary: Vocabulary) {
        let model = try call.model("model")
        let v = try call.vocab("v")
        guard let block = Generation.block(of: model.network) else {
            throw call.error(
                "\(model.name ?? "the model") has no positions layer (positions(block, d)), so how long a sample may be is unknown",
                at: "model")
        }
        try checkVocabulary(call, model, v, at: "v")
        let promptText = call.builtin.parameters.contains { $0.name == "prompt" } ? try call.string("prompt") : ""
        let prompt: [Int]
        do { prompt = try v.encode(promptText) } catch {
            let unknown = v.firstUnknown(promptText)
            let endMark = unknown?.scalar == "."
            throw call.error(
                "the prompt \"\(promptText)\" has \"\(unknown.map { String(Character($0.scalar)) } ?? "?")\" at position \(unknown?.position ?? 0), which is not in the vocabulary (\(v.count) symbols: \((0..<v.count).map(v.symbol).joined()))"
                    + (endMark ? ": \"\(Vocabulary.endMark)\" there stands for the end mark, which starts every sample" : ""),
                at: "prompt")
        }
        guard prompt.count + 1 < block else {
            throw call.error(
                "the prompt \"\(promptText)\" has \(prompt.count) characters; with the start mark it leaves no room in a block of \(block)",
                at: "prompt")
        }
        let settings = Generation.Settings(
            count: try call.int("n"), temperature: try call.float("temperature"), topK: try call.ifGiven("top_k", call.int))
        var generator =
            try call.ifGiven("seed", call.int).map { RandomGenerator(seed: UInt64(truncatingIfNeeded: $0)) }
            ?? call.interpreter.generator
        defer { if !call.isGiven("seed") { call.interpreter.generator = generator } }
        let interpreter = call.interpreter
        do {
            let ids = try Generation.sample(
                model.network, prompt: prompt, settings: settings, block: block, generator: &generator,
                shouldStop: { interpreter.interrupt.isRequested })
            return (try ids.map { try v.decode($0) }, v)
        } catch {
            throw call.interpreter.wrap(error, at: call.range)
        }
    }

    /// nats per labelled position, as a diagnostic at the call when it cannot be had.
    static func negativeLogLikelihood(_ call: BuiltinCall, _ model: Model, _ data: Dataset) throws -> Double {
        do {
            return try Evaluation.negativeLogLikelihood(model.network, on: data)
        } catch {
            throw call.interpreter.wrap(error, at: call.range)
        }
    }
}
