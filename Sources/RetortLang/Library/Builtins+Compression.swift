import Foundation
import RetortNN
import RetortTensor

/// Pruning and the tables that measure it.
extension Builtins {
    static let pruningRules = """
        structure: "weights" (unstructured): the weight of every Linear and Conv2d the model holds (function layers' \
        captured layers included; biases, norms and embeddings are left whole) loses the `amount` fraction of its entries \
        with the least importance, set to zero and masked, so fit, distill and step keep them at zero; the shapes stay \
        and so does the time per batch. scope: "layer" prunes that fraction of each weight; scope: "global" one fraction \
        of all their entries together, wherever they matter least (PyTorch's global_unstructured). structure: \
        "channels": output channels (rows, filters; at least one kept) are removed, and with them the batch norm over \
        them and every layer's inputs that read them (after a flatten, each filter's block of features), so the \
        matrices, the file and the time per batch are smaller. Which channels go together is read off the traced graph \
        (see graph), through function layers: a residual add ties the channels on both its sides, pruned as one group; \
        channels that reach the model's output, or an op that mixes them (softmax, layer norm, matmul), are left whole \
        and a note says why. A self-attention layer loses whole heads, the same fraction of them (at least one kept): \
        each head's query, key and value rows and its columns of the output projection, ranked by the sum of their \
        importance; the heads keep their size. The trace runs on the input the model last saw, or data's first example. by: "magnitude" \
        ranks by |w| (per entry, or a channel's L1 norm, summed over a group: PyTorch's l1_unstructured, Li et al. \
        2017 for filters); by: "sensitivity" by |w · ∂loss/∂w| averaged over the first `batches` batches of `data` \
        (first-order Taylor, cross-entropy loss), summed per channel. The amount counts what was pruned before: prune \
        a pruned model to a higher amount and the pruned entries or channels stay out while more go (iterative \
        pruning); a lower amount is refused. Channels of an original layer count from its size before any pruning. \
        prune changes the model it is given and returns it (quantize and qat return new models): clone first to keep \
        the original. Pruned layers are new parameters: an optimizer's moments for them start again. save writes the \
        zeros or the smaller shapes (load(path, like: a model of the smaller sizes) reads them back); the unstructured \
        mask lives in the session and in clone, not in the file: after load, prune again to keep the zeros through \
        training.
        """

    static let compressionBuiltins: [Builtin] = [
        Builtin(
            "prune",
            [
                .init("model", .model), .init("amount", .fraction(includingOne: false)),
                .init("by", .option(["magnitude", "sensitivity"]), .string("magnitude")),
                .init("structure", .option(["weights", "channels"]), .string("weights")),
                .init("scope", .option(Pruning.Scope.allCases.map(\.rawValue)), .string("layer")),
                .init("data", .optional(.dataset), Value.none), .init("batches", .wholeNumber(min: 1), .number(4)),
            ],
            category: "model", summary: "Prunes a model's weights, in place. " + pruningRules,
            example: "prune(student, 0.5); fit(student, train, epochs: 5)"
        ) { call in
            let model = try call.model("model")
            let amount = try call.number("amount")
            let structure = try call.string("structure")
            let scope = try call.option("scope", as: Pruning.Scope.self)
            if Quantizer.isQuantized(model.network) {
                throw call.error(
                    "\(model.name ?? "the model") is an int8 model: prune the float model, then quantise it", at: "model")
            }
            if Quantizer.isPrepared(model.network) {
                throw call.error(
                    "\(model.name ?? "the model") is prepared for quantisation (a qat copy): prune the float model, then make its qat copy",
                    at: "model")
            }
            let weights = Pruning.prunable(model.network)
            guard !weights.isEmpty else {
                throw call.error("\(model.name ?? "the model") has no Linear or Conv2d weight to prune", at: "model")
            }
            if structure == "channels" {
                guard scope == .layer else {
                    throw call.error(
                        "scope: \"global\" applies to structure: \"weights\"; channels are pruned per group", at: "scope")
                }
                // Masks would be dropped with the rows they cover, and the zeros made trainable again.
                if let masked = weights.first(where: { $0.variable.mask != nil }) {
                    throw call.error(
                        "\(model.name ?? "the model") is already pruned by weights (\(masked.name) has a mask): prune channels first, then weights",
                        at: "model")
                }
                return try pruneChannels(call, model, amount: amount)
            }
            let importance = try entryImportance(call, model, weights.map(\.variable))
            do {
                try Pruning.prune(weights.map(\.variable), amount: amount, importance: importance, scope: scope)
            } catch let e as TensorError {
                throw call.error(
                    "cannot prune \(model.name ?? "the model"): \(e.message)", kind: Diagnostic.Kind(e.kind), at: "amount")
            }
            model.pruning = model.pruning == "channels" ? "channels and weights" : "weights"
            return .model(model)
        },
        Builtin(
            "sparsity", [.init("model", .model)], category: "model",
            summary:
                "A table of each Linear and Conv2d weight: its shape before channel pruning and now, how many entries are zero, and the fraction; of a qat() model its float weights (masks kept), of an int8 model its int8 values (a pruned entry stays 0; a small one can round to 0 too).",
            example: "sparsity(student)"
        ) { call in
            let model = try call.model("model")
            var rows: [[String]] = []
            var (zeros, total) = (0, 0)
            for weight in Pruning.weightZeros(model.network) {
                zeros += weight.zeros
                total += weight.count
                rows.append([
                    weight.name, model.shapesBeforePruning[weight.name].map(formatShape) ?? formatShape(weight.shape),
                    formatShape(weight.shape), String(weight.zeros), String(weight.count),
                    String(format: "%.1f%%", 100 * Double(weight.zeros) / Double(Swift.max(weight.count, 1))),
                    weight.masked ? "yes" : "no",
                ])
            }
            rows.append([
                "total", "", "", String(zeros), String(total),
                String(format: "%.1f%%", 100 * Double(zeros) / Double(Swift.max(total, 1))), "",
            ])
            return .table(
                Table(
                    columns: ["weight", "shape before", "shape", "zeros", "entries", "sparsity", "masked"], rows: rows,
                    title: "\(model.name ?? "model"): weight sparsity"))
        },
    ]

    /// Structured pruning: removes channels in place, group by group as the graph ties them, and
    /// records the shapes before.
    static func pruneChannels(_ call: BuiltinCall, _ model: Model, amount: Double) throws -> Value {
        let network = model.network
        // Channels go by replacing layers with smaller ones in this model; another model holding the
        // same layers would keep the old ones and silently stop sharing them.
        let mine = Set(network.parameters.map(ObjectIdentifier.init))
        for (name, value) in call.interpreter.userBindings {
            guard case .model(let other) = value, other.network !== network,
                other.network.parameters.contains(where: { mine.contains(ObjectIdentifier($0)) })
            else { continue }
            throw call.error(
                "cannot prune \(model.name ?? "the model") by channels: it shares layers with \(name), which would keep the unpruned ones; prune a clone (its layers are its own)",
                at: "model")
        }
        let input = try exampleInput(call, model, from: "data", purpose: "follow its channels")
        let plan: ChannelPruning.Plan
        do {
            plan = try ChannelPruning.plan(network, input: input)
        } catch {
            throw call.error(
                "cannot trace \(model.name ?? "the model") to follow its channels: \(error)",
                kind: Diagnostic.Kind(of: error, otherwise: .argument), at: "model")
        }
        let skipped = plan.groups.filter { $0.lockedBecause != nil && $0.lockedBecause != "they are the model's output" }
        // Attention heads go whole, inside their layer (their projections are float Linear layers).
        let attentions = HeadPruning.layers(network).filter { $0.layer.qkv is Linear && $0.layer.projection is Linear }
        guard !plan.prunable.isEmpty || !attentions.isEmpty else {
            let reasons = skipped.map {
                "\($0.producers.map(\.name).sorted().joined(separator: ", ")): \($0.lockedBecause ?? "")"
            }
            throw call.error(
                "cannot prune \(model.name ?? "the model") by channels: "
                    + (reasons.isEmpty
                        ? "it has a single Linear or Conv2d, whose outputs are the model's: nothing to prune"
                        : "no channels can be removed (" + reasons.joined(separator: "; ") + ")"),
                at: "model")
        }
        for group in skipped {
            call.interpreter.sink.writeError(
                "prune: the channels of \(group.producers.map(\.name).sorted().joined(separator: ", ")) are left whole: \(group.lockedBecause ?? "")\n"
            )
        }
        // A channel's importance is the sum over its weights: the L1 norm of its row or filter by
        // magnitude (Li et al. 2017), its first-order Taylor score by sensitivity; summed over a group.
        let producers = plan.prunable.flatMap(\.producers)
        let projections = attentions.flatMap { a in [a.layer.qkv, a.layer.projection].compactMap { ($0 as? Linear)?.weight } }
        let importance = try entryImportance(call, model, producers.map(\.layer.weight) + projections)
        let perWeight = importance.prefix(producers.count)
        var headsKept: [ObjectIdentifier: [Int]] = [:]
        for (i, (name, attention)) in attentions.enumerated() {
            let prefix = name.isEmpty ? "" : name + "."
            let original =
                model.shapesBeforePruning[prefix + "c_attn.weight"].map { $0[0] / (3 * attention.headSize) } ?? attention.heads
            let keep = Swift.max(1, original - Int((amount * Double(original)).rounded(.toNearestOrEven)))
            guard keep <= attention.heads else {
                throw call.error(
                    "the heads of \(name): \(attention.heads) of \(original) are kept already, and amount \(formatNumber(amount)) would keep \(keep); give a higher amount",
                    at: "amount")
            }
            guard keep < attention.heads else { continue }
            let score = HeadPruning.scores(
                attention, qkv: importance[producers.count + 2 * i], projection: importance[producers.count + 2 * i + 1])
            let order = score.indices.sorted { score[$0] > score[$1] || (score[$0] == score[$1] && $0 < $1) }
            headsKept[ObjectIdentifier(attention)] = Array(order.prefix(keep))
        }
        var scores: [ObjectIdentifier: [Float]] = [:]
        for ((_, layer), score) in zip(producers, perWeight) {
            let channels = score.shape[0]
            let inner = score.count / Swift.max(channels, 1)
            let values = score.scalars
            scores[ObjectIdentifier(layer)] = (0..<channels).map { c in values[(c * inner)..<((c + 1) * inner)].reduce(0, +) }
        }
        var kept: [Int: [Int]] = [:]
        for (index, group) in plan.groups.enumerated() where group.lockedBecause == nil {
            let original =
                group.producers.compactMap { model.shapesBeforePruning[$0.name.isEmpty ? "weight" : "\($0.name).weight"]?[0] }
                .first
                ?? group.channels
            let keep = Swift.max(1, original - Int((amount * Double(original)).rounded(.toNearestOrEven)))
            guard keep <= group.channels else {
                throw call.error(
                    "the channels of \(group.producers.map(\.name).sorted().joined(separator: ", ")): \(group.channels) of \(original) are kept already, and amount \(formatNumber(amount)) would keep \(keep); give a higher amount",
                    at: "amount")
            }
            guard keep < group.channels else { continue }
            var total = [Float](repeating: 0, count: group.channels)
            for (_, layer) in group.producers {
                for (c, v) in (scores[ObjectIdentifier(layer)] ?? []).enumerated() { total[c] += v }
            }
            let order = total.indices.sorted { total[$0] > total[$1] || (total[$0] == total[$1] && $0 < $1) }
            kept[index] = Array(order.prefix(keep)).sorted()
        }
        let before = Dictionary(network.namedParameters.map { ($0.name, $0.variable.shape) }, uniquingKeysWith: { a, _ in a })
        do {
            _ = try ChannelPruning.apply(plan, to: network, keeping: kept)
            _ = try HeadPruning.apply(network, keeping: headsKept)
        } catch let refusal as ChannelPruning.Refusal {
            throw call.error("cannot prune \(model.name ?? "the model") by channels: \(refusal)", at: "model")
        }
        for (name, variable) in network.namedParameters where before[name] != variable.shape {
            if model.shapesBeforePruning[name] == nil { model.shapesBeforePruning[name] = before[name] }
        }
        model.pruning = "channels"
        return .model(model)
    }

    /// An input to trace `model` on: one example of the dataset argument `name` when given, else a
    /// zero batch of one in the shape the model last ran on, else one its first Linear takes.
    static func exampleInput(_ call: BuiltinCall, _ model: Model, from name: String, purpose: String) throws -> Tensor {
        if case .dataset(let d) = call.value(name) {
            guard d.count > 0 else { throw call.fail(name, "a dataset with at least one example") }
            return d.subset([0]).x
        }
        if let shape = model.network.lastInputShape, !shape.isEmpty {
            return Tensor.zeros([1] + shape.dropFirst())
        }
        // The first layer holding parameters, in the order the model lists them, is the one the input meets.
        let first = model.network.namedModules.first { $0.layer.children.isEmpty && !$0.layer.namedParameters.isEmpty }
        if let linear = first?.layer as? Linear { return Tensor.zeros([1, linear.inFeatures]) }
        throw call.error(
            "cannot tell what input \(model.name ?? "this model") takes, to \(purpose): it has not run on data yet; pass \(name): a dataset",
            at: "model")
    }

    /// Each weight entry's importance, as `by:` asks: |w|, or its first-order Taylor score on `data`.
    static func entryImportance(_ call: BuiltinCall, _ model: Model, _ weights: [Variable]) throws -> [Tensor] {
        guard try call.string("by") == "sensitivity" else { return Importance.magnitude(weights) }
        guard call.isGiven("data") else {
            throw call.error("by: \"sensitivity\" needs data: to measure gradients on", at: "by")
        }
        return try Importance.sensitivity(
            model.network, weights, data: try call.examples("data", for: "measure gradients on"), batches: try call.int("batches")
        )
    }
}
