import Foundation
import RetortNN
import RetortTensor

/// A training run's checkpoint: the model, its optimizer's state, the epoch reached, the history
/// so far and the session's random generator, in one safetensors file written whole (atomically)
/// every `every` epochs, so that `resume: true` carries on where a stopped run was.
///
/// The model's tensors keep their `state_dict` names, so `load(path, into: m)` takes the weights
/// (it leaves a checkpoint's `optimizer.` entries aside) and PyTorch loads them with
/// `strict=False`. Parameters outside the model (an adapter in the loss) are not saved.
struct Checkpoint {
    let directory: String
    let every: Int

    func path(for model: Model) -> String {
        (directory as NSString).appendingPathComponent("\(model.name ?? "model").checkpoint.safetensors")
    }

    /// The model's parameters by name, each once.
    private func parameters(of model: Model) -> [(name: String, variable: Variable)] {
        var seen = Set<ObjectIdentifier>()
        return model.network.namedParameters.filter { seen.insert(ObjectIdentifier($0.variable)).inserted }
    }

    func save(
        model: Model, optimizer: OptimizerValue, epoch: Int, epochs: Int, history: History, generator: RandomGenerator
    ) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var extra: [(name: String, tensor: Tensor)] = []
        var steps: [String: Int] = [:]
        let named = parameters(of: model)
        for ((name, _), state) in zip(named, optimizer.states(of: named.map(\.variable))) {
            guard let state else { continue }
            for (key, tensor) in state.tensors.sorted(by: { $0.key < $1.key }) {
                extra.append(("optimizer.\(name).\(key)", tensor))
            }
            steps[name] = state.step
        }
        let series = Dictionary(uniqueKeysWithValues: history.series.map { ($0.name, $0.values.map { $0.isFinite ? $0 : nil }) })
        let metadata: [String: String] = [
            "retort_checkpoint": "1", "epoch": String(epoch), "epochs": String(epochs), "optimizer": optimizer.kind.rawValue,
            "optimizer_steps": String(optimizer.steps), "parameter_steps": json(steps),
            "history": json(["epochs": history.epochs, "order": history.series.map(\.name), "series": series] as [String: Any]),
            "generator": generator.stateWords.map(String.init).joined(separator: ","),
        ]
        try SafeTensors.save(model.network, to: path(for: model), metadata: metadata, extra: extra)
    }

    /// Loads the checkpoint into the model, the optimizer, the history and the generator; returns
    /// the epoch it had reached, or nil when there is none yet.
    func load(model: Model, optimizer: OptimizerValue, history: History, generator: inout RandomGenerator) throws -> Int? {
        let file = path(for: model)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let contents = try SafeTensors.read(path: file)
        let meta = contents.metadata ?? [:]
        guard meta["retort_checkpoint"] == "1", let epoch = meta["epoch"].flatMap(Int.init) else {
            throw TensorError("checkpoint", "\(file) is not a Retort checkpoint")
        }
        guard meta["optimizer"] == optimizer.kind.rawValue else {
            throw TensorError(
                "checkpoint",
                "\(file) was trained with \(meta["optimizer"] ?? "another optimizer"), this call uses \(optimizer.kind.rawValue): resume with the same optimizer"
            )
        }
        try SafeTensors.load(from: file, into: model.network) { $0.hasPrefix("optimizer.") ? nil : $0 }
        let stored = Dictionary(contents.tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        let steps =
            (try? JSONSerialization.jsonObject(with: Data((meta["parameter_steps"] ?? "{}").utf8))) as? [String: Int] ?? [:]
        var states: [(Variable, ParameterState)] = []
        for (name, variable) in parameters(of: model) {
            let prefix = "optimizer.\(name)."
            let tensors = stored.filter { $0.key.hasPrefix(prefix) }
            guard !tensors.isEmpty else { continue }
            states.append(
                (
                    variable,
                    ParameterState(
                        tensors: Dictionary(
                            uniqueKeysWithValues: tensors.map { (String($0.key.dropFirst(prefix.count)), $0.value) }),
                        step: steps[name] ?? 0)
                ))
        }
        try optimizer.restore(states, steps: meta["optimizer_steps"].flatMap(Int.init) ?? 0, owner: model)
        if let text = meta["history"], let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            history.epochs = object["epochs"] as? [Int] ?? []
            let series = object["series"] as? [String: [Any]] ?? [:]
            history.series = (object["order"] as? [String] ?? []).map { name in
                (name, (series[name] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan })
            }
        }
        if let words = meta["generator"]?.split(separator: ",").compactMap({ UInt64($0) }) { generator.stateWords = words }
        return epoch
    }

    private func json(_ object: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
            ?? "{}"
    }
}
