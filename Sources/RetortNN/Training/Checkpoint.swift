import Foundation
import RetortTensor

/// What a checkpoint needs of an optimizer beyond stepping: its state, to save and restore.
public protocol CheckpointedOptimizer: TrainingOptimizer {
    /// `adam`, `adamw`, `sgd`.
    var kind: String { get }
    /// Steps taken, the count schedules read.
    var stepsTaken: Int { get }
    /// Each parameter's saved state (nil before its first update).
    func states(of parameters: [Variable]) -> [ParameterState?]
    /// Restores saved states and the step count.
    func restore(_ states: [(Variable, ParameterState)], steps: Int) throws
}

/// A training run's checkpoint: the model, its optimizer's state, the epoch reached, the history
/// so far and the random generator, in one safetensors file written whole (atomically) every
/// `every` epochs, so that a resumed run carries on where a stopped one was.
///
/// The file also records what the run was made for: the model's architecture, the data, and the
/// run's settings (optimizer and its settings, batch size, epochs, loss and its arguments). A
/// resume whose run differs in any of them is an error naming each difference: continuing another
/// run's weights and history would be a silent wrong answer.
///
/// The model's tensors keep their `state_dict` names, so `load(path, into: m)` takes the weights
/// (it leaves a checkpoint's `optimizer.` entries aside) and PyTorch loads them with
/// `strict=False`. Parameters outside the model that the run trains (an adapter the loss reads) are
/// saved beside it as `loss.NAME`, with their optimizer state: a resume that restarted them would
/// train on from a fresh adapter, unlike the unbroken run.
public struct Checkpoint: TrainingCheckpoint {
    public let path: String
    public let every: Int
    public let model: Layer
    public let optimizer: CheckpointedOptimizer
    /// What the run is, beyond the model: each entry's key names it in an error (`lr`, `batch`).
    public let run: [(key: String, value: String)]
    /// Trainable parameters the loss reads that the model does not hold (an adapter), each by the
    /// name the loss reads it under (`adapter.weight`). Those the run has trained (the optimizer
    /// holds their state) are saved as `loss.` and that name; one the loss only reads (a teacher
    /// behind `no_grad` in a hand-written distillation) is not the run's to save or restore.
    public var lossParameters: [(name: String, variable: Variable)] = []
    /// What a run entry left out means, by its key, for an error naming a difference (`weights`
    /// left out are equal ones): "not recorded there" would read as if the setting were unknown.
    public var meaningWhenLeftOut: [String: String] = [:]
    /// A saved entry as this run would record it, by key (nil: this run leaves it out), for what an
    /// earlier Retort recorded otherwise: a file saved by the same run then still resumes.
    public var savedAsNow: [String: (String) -> String?] = [:]
    /// The prefix of the loss's parameters in the file.
    static let lossPrefix = "loss."
    /// Random generators the run draws from besides the session's, each by a name: every dropout
    /// layer's (`dropout 2`, its module's name) and any the caller adds (on-policy sampling's).
    /// Saved and restored, so a resumed run draws what the unbroken one would have.
    public var generators: [Generator] = []
    /// The dropouts whose generators are in `generators`.
    private var dropoutsAdded: [ObjectIdentifier] = []

    /// A generator's state, read and written through the object that holds it.
    public struct Generator {
        public let name: String
        public let get: () -> [UInt64]
        public let set: ([UInt64]) -> Void
        public init(name: String, get: @escaping () -> [UInt64], set: @escaping ([UInt64]) -> Void) {
            (self.name, self.get, self.set) = (name, get, set)
        }
    }

    /// `run` should name the data (see `describe(data:)`) and every setting a resume must share.
    public init(
        path: String, every: Int, model: Layer, optimizer: CheckpointedOptimizer, run: [(key: String, value: String)]
    ) {
        (self.path, self.every, self.model, self.optimizer) = (path, every, model, optimizer)
        self.run = [("model", Self.describe(model: model))] + run
        addDropouts(of: model)
    }

    /// Adds the generator of every dropout `layer` holds (a gpt's attention dropouts too), each
    /// once, named by its module's name after `prefix`: the model's, and those of models the loss
    /// reads (`loss.adapter.`).
    public mutating func addDropouts(of layer: Layer, prefix: String = "") {
        var seen = Set(dropoutsAdded)
        for (name, module) in layer.namedModules {
            var found: [(name: String, dropout: Dropout)] = []
            if let dropout = module as? Dropout { found.append((name, dropout)) }
            found += (module as? HoldsDropouts)?.dropouts.map { ("\(name).\($0.name)", $0.dropout) } ?? []
            for (name, dropout) in found where seen.insert(ObjectIdentifier(dropout)).inserted {
                dropoutsAdded.append(ObjectIdentifier(dropout))
                generators.append(
                    Generator(
                        name: "dropout \(prefix)\(name)", get: { dropout.generatorState },
                        set: { dropout.generatorState = $0 }))
            }
        }
    }

    /// The model's parameters by name, then the loss's, each once.
    private var parameters: [(name: String, variable: Variable)] {
        var seen = Set<ObjectIdentifier>()
        return (model.namedParameters + ownLossParameters).filter { seen.insert(ObjectIdentifier($0.variable)).inserted }
    }

    /// The loss's parameters the model does not hold, under their names in the file (`loss.NAME`).
    private var ownLossParameters: [(name: String, variable: Variable)] {
        var held = Set(model.parameters.map(ObjectIdentifier.init))
        return lossParameters.filter { held.insert(ObjectIdentifier($0.variable)).inserted }.map {
            (Self.lossPrefix + $0.name, $0.variable)
        }
    }

    public func save(epoch: Int, history: History, generator: RandomGenerator) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let own = ownLossParameters
        var extra: [(name: String, tensor: Tensor)] = zip(own, optimizer.states(of: own.map(\.variable))).compactMap {
            $1 == nil ? nil : ($0.name, $0.variable.value)
        }
        var steps: [String: Int] = [:]
        let named = parameters
        for ((name, _), state) in zip(named, optimizer.states(of: named.map(\.variable))) {
            guard let state else { continue }
            for (key, tensor) in state.tensors.sorted(by: { $0.key < $1.key }) {
                extra.append(("optimizer.\(name).\(key)", tensor))
            }
            steps[name] = state.step
        }
        let series = Dictionary(uniqueKeysWithValues: history.series.map { ($0.name, $0.values.map { $0.isFinite ? $0 : nil }) })
        let metadata: [String: String] = [
            "retort_checkpoint": "2", "epoch": String(epoch), "optimizer": optimizer.kind,
            "optimizer_steps": String(optimizer.stepsTaken), "parameter_steps": json(steps),
            "history": json(["epochs": history.epochs, "order": history.series.map(\.name), "series": series] as [String: Any]),
            "generator": generator.stateWords.map(String.init).joined(separator: ","),
            "generators": json(
                Dictionary(
                    generators.map { ($0.name, $0.get().map(String.init).joined(separator: ",")) },
                    uniquingKeysWith: { a, _ in a })),
            "run": json(run.map { [$0.key, $0.value] }),
            "layers": json(Dictionary(Self.layers(of: model), uniquingKeysWith: { a, _ in a })),
        ]
        try SafeTensors.save(model, to: path, metadata: metadata, extra: extra)
    }

    public func resume(into history: History, generator: inout RandomGenerator) throws -> Int? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let contents = try SafeTensors.read(path: path)
        let meta = contents.metadata ?? [:]
        guard meta["retort_checkpoint"] != nil, let epoch = meta["epoch"].flatMap(Int.init) else {
            throw TensorError(.file, "checkpoint", "\(path) is not a Retort checkpoint")
        }
        guard let text = meta["run"],
            let saved = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String]]
        else {
            throw TensorError(
                .file,
                "checkpoint",
                "\(path) does not record which run it was made for (an earlier Retort wrote it): remove it, or name another checkpoint file, to start this run"
            )
        }
        let layers = meta["layers"].flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String] }
        try checkSameRun(saved.compactMap { $0.count == 2 ? ($0[0], $0[1]) : nil }, layers: layers)
        let stored = Dictionary(contents.tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        // The loss's parameters the run had trained, all checked before anything changes; one it
        // had not trained yet (an adapter first used later) stays as the session holds it.
        let own = Dictionary(ownLossParameters.map { ($0.name, $0.variable) }, uniquingKeysWith: { a, _ in a })
        var restored: [(Variable, Tensor)] = []
        for (name, tensor) in stored.sorted(by: { $0.key < $1.key }) where name.hasPrefix(Self.lossPrefix) {
            let shown = name.dropFirst(Self.lossPrefix.count)
            guard let variable = own[name] else {
                throw TensorError(
                    .file, "checkpoint",
                    "\(path) holds \(shown), which the loss trained beside the model, but this run's loss reads "
                        + "nothing by that name"
                )
            }
            guard tensor.shape == variable.shape else {
                throw TensorError(
                    .shape, "checkpoint",
                    "\(path) holds \(shown) as \(formatShape(tensor.shape)), but the loss's is \(formatShape(variable.shape))")
            }
            restored.append((variable, tensor))
        }
        try SafeTensors.load(from: path, into: model) {
            $0.hasPrefix("optimizer.") || $0.hasPrefix(Self.lossPrefix) ? nil : $0
        }
        for (variable, tensor) in restored { variable.update { $0 = tensor } }
        let steps =
            (try? JSONSerialization.jsonObject(with: Data((meta["parameter_steps"] ?? "{}").utf8))) as? [String: Int] ?? [:]
        var states: [(Variable, ParameterState)] = []
        for (name, variable) in parameters {
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
        try optimizer.restore(states, steps: meta["optimizer_steps"].flatMap(Int.init) ?? 0)
        if let text = meta["history"], let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] {
            history.epochs = object["epochs"] as? [Int] ?? []
            let series = object["series"] as? [String: [Any]] ?? [:]
            history.series = (object["order"] as? [String] ?? []).map { name in
                (name, (series[name] ?? []).map { ($0 as? NSNumber)?.doubleValue ?? .nan })
            }
        }
        if let words = meta["generator"]?.split(separator: ",").compactMap({ UInt64($0) }) { generator.stateWords = words }
        // A file from before these were saved leaves them where they are.
        if let text = meta["generators"],
            let saved = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String]
        {
            for g in generators {
                if let words = saved[g.name]?.split(separator: ",").compactMap({ UInt64($0) }) { g.set(words) }
            }
        }
        return epoch
    }

    /// Refuses a saved run that differs from this one, naming every difference: of a model whose
    /// architecture differs, the layers that do (`layers`, the saved run's, where the file has them).
    private func checkSameRun(_ written: [(String, String)], layers: [String: String]?) throws {
        let saved = written.compactMap { key, value in savedAsNow[key].map { $0(value).map { (key, $0) } } ?? (key, value) }
        let there = Dictionary(saved, uniquingKeysWith: { a, _ in a })
        var differences: [String] = []
        for (key, value) in run where there[key] != value {
            if key == "model", let layers, let saved = there[key] {
                differences.append(
                    "model: \(saved) there, \(value) here (\(Self.layerDifferences(layers, Self.layers(of: model))))")
                continue
            }
            guard let saved = there[key] else {
                differences.append("\(key): \(meaningWhenLeftOut[key] ?? "not recorded") there, \(shorten(value)) here")
                continue
            }
            let (a, b) = shortened(saved, value)
            differences.append("\(key): \(a) there, \(b) here")
        }
        for (key, value) in saved where !run.contains(where: { $0.key == key }) {
            differences.append("\(key): \(shorten(value)) there, \(meaningWhenLeftOut[key] ?? "not given") here")
        }
        guard differences.isEmpty else {
            throw TensorError(
                .argument,
                "checkpoint",
                "\(path) was saved by another run (\(differences.joined(separator: "; "))); resuming would continue that run's weights and history. Give this run its own file (checkpoint: \"dir/NAME.safetensors\"), or remove that one"
            )
        }
    }

    /// Every leaf layer's description by its module's name, as the architecture's hash reads them.
    static func layers(of model: Layer) -> [(String, String)] {
        model.namedModules.filter { $0.layer.children.isEmpty }.map { ($0.name, $0.layer.description) }
    }

    /// The layers that differ between a saved model's and this one's, the first three by name.
    static func layerDifferences(_ saved: [String: String], _ here: [(String, String)]) -> String {
        var found: [String] = []
        for (name, description) in here where saved[name] != description {
            found.append("layer \(name): " + (saved[name].map { "\($0) there, " } ?? "not there, ") + "\(description) here")
        }
        let names = Set(here.map(\.0))
        for (name, description) in saved.sorted(by: { $0.key < $1.key }) where !names.contains(name) {
            found.append("layer \(name): \(description) there, not here")
        }
        guard !found.isEmpty else { return "the same layers, other parameter shapes" }
        return found.prefix(3).joined(separator: "; ") + (found.count > 3 ? "; and \(found.count - 3) more" : "")
    }

    private func shorten(_ text: String) -> String { text.count > 60 ? String(text.prefix(57)) + "..." : text }

    /// Two values that differ, each cut to about 60 characters from a little before where they
    /// first differ: a loss's source can differ past its first 60 characters.
    private func shortened(_ a: String, _ b: String) -> (String, String) {
        if a.count <= 60 && b.count <= 60 { return (a, b) }
        let start = Swift.max(0, zip(a, b).prefix { $0 == $1 }.count - 20)
        func cut(_ text: String) -> String { (start > 0 ? "..." : "") + shorten(String(text.dropFirst(start))) }
        return (cut(a), cut(b))
    }

    private func json(_ object: Any) -> String {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
            ?? "{}"
    }

    // MARK: Fingerprints

    /// The architecture: every parameter's name and shape and every layer's description, as a
    /// short text with a hash of the whole (`3 layers, 870 parameters, #1f2e...`).
    public static func describe(model: Layer) -> String {
        var hasher = FNV1a()
        for (name, layer) in model.namedModules where layer.children.isEmpty { hasher.add("\(name)=\(layer.description);") }
        for (name, p) in model.namedParameters { hasher.add("\(name)\(formatShape(p.shape));") }
        let leaves = model.namedModules.filter { $0.layer.children.isEmpty }.count
        return "\(leaves) layers, \(model.parameterCount) parameters, #\(hasher.hex)"
    }

    /// A model as `describe(model:)` and a hash of every parameter's and buffer's values: a
    /// teacher, which a resumed run must find as it was (another teacher of the same sizes once
    /// resumed silently).
    public static func describe(modelWithWeights model: Layer) -> String {
        var hasher = FNV1a()
        for (name, p) in model.namedParameters { hasher.add(name, p.value) }
        for (name, b) in model.namedBuffers { hasher.add(name, b) }
        return describe(model: model) + ", weights #\(hasher.hex)"
    }

    /// A hash of a text: a long value's fingerprint in a run's record.
    public static func fingerprint(text: String) -> String {
        var hasher = FNV1a()
        hasher.add(text)
        return "#\(hasher.hex)"
    }

    /// A tensor's shape and a hash of its values.
    public static func describe(tensor: Tensor) -> String {
        var hasher = FNV1a()
        hasher.add("", tensor)
        return "tensor \(formatShape(tensor.shape)) #\(hasher.hex)"
    }

    /// The data: its name, size, shapes and a hash of its values.
    public static func describe(data: Dataset) -> String {
        var hasher = FNV1a()
        for tensor in [data.x, data.y] {
            hasher.add(formatShape(tensor.shape))
            tensor.withUnsafeBufferPointer { values in for v in values { hasher.add(v.bitPattern) } }
        }
        return "\(data.name): \(data.count) examples \(formatShape(Array(data.x.shape.dropFirst()))), #\(hasher.hex)"
    }
}

/// The 64-bit FNV-1a hash: a fingerprint, not a secret.
struct FNV1a {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add(_ byte: UInt8) {
        value ^= UInt64(byte)
        value &*= 0x100_0000_01b3
    }

    mutating func add(_ text: String) { for b in text.utf8 { add(b) } }

    mutating func add(_ word: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { add(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
    }

    /// A named tensor: the name, the shape and every value's bits.
    mutating func add(_ name: String, _ tensor: Tensor) {
        add("\(name)\(formatShape(tensor.shape));")
        tensor.withUnsafeBufferPointer { values in for v in values { add(v.bitPattern) } }
    }

    var hex: String { String(value, radix: 16) }
}
