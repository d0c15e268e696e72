import Foundation
import RetortGraph
import RetortNN
import RetortTensor

/// Writes a folder that runs a Retort distillation (or a plain fit) in PyTorch, under `python` or
/// `torchrun`: the models as `nn.Module` classes (model.py), the loss translated from Retort
/// (loss.py, made by the language), the training loop (train.py), the data with each epoch's
/// batch order, the weights, and a README of the commands.
///
/// The folder is written beside the target under a temporary name and renamed into place at the
/// end, so a failure leaves nothing half-written (and an earlier export at the target intact).
public enum TorchExport {
    /// An optimizer's settings, as `adam(...)`, `adamw(...)` or `sgd(...)` made it.
    public struct Optimizer {
        public enum Kind: String, Sendable { case sgd, adam, adamw }
        public var kind: Kind
        /// The base rate; nil when it is loss.py's `learning_rate(p)`.
        public var learningRate: Double?
        public var betas: (Double, Double)
        public var weightDecay: Double
        public var momentum: Double
        public var nesterov: Bool
        public var schedule: LearningRateSchedule

        public init(
            kind: Kind, learningRate: Double?, betas: (Double, Double), weightDecay: Double, momentum: Double,
            nesterov: Bool, schedule: LearningRateSchedule
        ) {
            (self.kind, self.learningRate, self.betas, self.weightDecay) = (kind, learningRate, betas, weightDecay)
            (self.momentum, self.nesterov, self.schedule) = (momentum, nesterov, schedule)
        }
    }

    /// How each process's loss is scaled so the averaged gradient is the whole batch's.
    public enum Scaling: String, Sendable {
        /// By the process's share of the batch's examples: exact for a mean over examples.
        case examples
        /// By its share of the batch's labelled tokens (labels other than −1): exact for a mean over them.
        case tokens
        /// By the number of processes, each process's share of the batch being its own: exact for a sum.
        case sum
    }

    /// Everything one export writes.
    public struct Job {
        public var student: Layer
        /// Empty for a fit.
        public var teachers: [Layer]
        /// The teachers' weights as proportions, when there are several.
        public var teacherWeights: [Double]
        public var data: Dataset
        /// Each epoch's order of the examples, as Retort's run draws them.
        public var orders: [[Int]]
        /// loss.py's text: `loss(output, [teacher,] labels, p, x)` and what it calls.
        public var lossSource: String
        /// Whether loss.py defines `learning_rate(p)`, the optimizer's rate as a function of progress.
        public var optimizer: Optimizer
        public var epochs: Int
        public var batch: Int
        public var clip: Double?
        public var scaling: Scaling
        /// The student's parameters that are frozen (not trained), by state-dict name.
        public var frozen: [String]
        /// The Retort call, shown in the README and train.py.
        public var call: String
        /// One line per model for the classes' docstrings.
        public var studentSummary: String
        public var teacherSummaries: [String]

        public init(
            student: Layer, teachers: [Layer], teacherWeights: [Double], data: Dataset, orders: [[Int]], lossSource: String,
            optimizer: Optimizer, epochs: Int, batch: Int, clip: Double?, scaling: Scaling, frozen: [String], call: String,
            studentSummary: String, teacherSummaries: [String]
        ) {
            (self.student, self.teachers, self.teacherWeights, self.data, self.orders) =
                (student, teachers, teacherWeights, data, orders)
            (self.lossSource, self.optimizer, self.epochs, self.batch, self.clip) = (lossSource, optimizer, epochs, batch, clip)
            (self.scaling, self.frozen, self.call, self.studentSummary, self.teacherSummaries) =
                (scaling, frozen, call, studentSummary, teacherSummaries)
        }

        var isDistillation: Bool { !teachers.isEmpty }
        /// The teachers' class names and weight files: `Teacher` and teacher.safetensors for one.
        var teacherFiles: [(className: String, file: String)] {
            if teachers.count == 1 { return [("Teacher", "teacher.safetensors")] }
            return teachers.indices.map { ("Teacher\($0 + 1)", "teacher\($0 + 1).safetensors") }
        }
    }

    /// The files written, in the order they were written.
    public struct Report {
        public let directory: String
        public let files: [String]
    }

    /// Writes `job` into the folder `directory` (made, or replacing an earlier export there).
    @discardableResult
    public static func write(_ job: Job, to directory: String) throws -> Report {
        for (name, model) in [("the student", job.student)] + job.teachers.map({ ("a teacher", $0) }) {
            guard !Quantizer.isPrepared(model), !Quantizer.isQuantized(model) else {
                throw TensorError(.argument, "export_torch", "\(name) is quantised or prepared for it; export the float model")
            }
        }
        if let pruned = job.student.namedParameters.first(where: { $0.variable.mask != nil }) {
            throw TensorError(
                .argument, "export_torch",
                "the student is pruned (\(pruned.name) has a mask): PyTorch's optimizer would regrow the pruned weights; "
                    + "export it before pruning; or, to train on from the pruned weights with the zeros free to change, save "
                    + "it and load the file into a model of the same sizes (the file holds the zeros, not the masks)")
        }
        guard job.data.count > 0 else { throw TensorError(.value, "export_torch", "the data has no examples") }
        let example = job.data.subset([0]).x
        // Translate everything before touching the disk.
        let models =
            [("Student", job.student, job.studentSummary)]
            + zip(job.teachers, zip(job.teacherFiles, job.teacherSummaries)).map { ($1.0.className, $0, $1.1) }
        let modelFile = try self.modelFile(models, example: example, header: TorchScripts.modelHeader(job))
        let files: [(name: String, text: String)] = [
            ("model.py", modelFile), ("loss.py", job.lossSource), ("train.py", TorchScripts.train(job)),
            ("README.md", TorchScripts.readme(job)),
        ]

        let fm = FileManager.default
        let target = URL(fileURLWithPath: NSString(string: directory).expandingTildeInPath).standardizedFileURL
        let parent = target.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: target.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw TensorError(.file, "export_torch", "cannot write '\(directory)': a file of that name is in the way")
            }
            let earlier = ["train.py", "model.py"].allSatisfy { fm.fileExists(atPath: target.appendingPathComponent($0).path) }
            let empty = ((try? fm.contentsOfDirectory(atPath: target.path)) ?? []).isEmpty
            guard earlier || empty else {
                throw TensorError(
                    .file, "export_torch",
                    "cannot write '\(directory)': it is a folder that holds other files, not an earlier export (choose a new folder)"
                )
            }
        }
        guard fm.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TensorError(.file, "export_torch", "cannot write '\(directory)': the folder '\(parent.path)' does not exist")
        }
        let temporary = parent.appendingPathComponent(".\(target.lastPathComponent).export-\(UUID().uuidString.prefix(8))")
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: false)
        } catch {
            throw TensorError(.file, "export_torch", "cannot write '\(directory)': \(describe(error))")
        }
        var written: [String] = []
        do {
            for (name, text) in files {
                try Data(text.utf8).write(to: temporary.appendingPathComponent(name))
                written.append(name)
            }
            try writeData(job, to: temporary.appendingPathComponent("data.safetensors").path)
            written.append("data.safetensors")
            try SafeTensors.save(job.student, to: temporary.appendingPathComponent("student_init.safetensors").path)
            written.append("student_init.safetensors")
            for (teacher, entry) in zip(job.teachers, job.teacherFiles) {
                try SafeTensors.save(teacher, to: temporary.appendingPathComponent(entry.file).path)
                written.append(entry.file)
            }
            try replace(target, with: temporary)
        } catch {
            try? fm.removeItem(at: temporary)
            if let e = error as? TensorError, e.op == "export_torch" { throw e }
            throw TensorError(.file, "export_torch", "cannot write '\(directory)': \(describe(error))")
        }
        return Report(directory: target.path, files: written)
    }

    /// model.py's text: each model as a class, traced on `example` (one or more rows of input).
    public static func modelFile(
        _ models: [(className: String, model: Layer, summary: String)], example: Tensor, header: String? = nil
    ) throws -> String {
        var text = header ?? TorchScripts.modelHeader(weights: "the safetensors files saved from Retort", task: "export")
        for (className, model, summary) in models {
            text += "\n\n\n" + (try TorchModule(className: className, model: model, example: example, summary: summary).source())
        }
        return text
    }

    /// data.safetensors: `x` and `y` as float32 (labels as Retort holds them) and `order`, each
    /// epoch's permutation of the examples as int64 `[epochs, N]`.
    static func writeData(_ job: Job, to path: String) throws {
        let n = job.data.count
        guard job.orders.count == job.epochs, job.orders.allSatisfy({ $0.count == n }) else {
            throw TensorError(.argument, "export_torch", "the batch orders do not cover \(job.epochs) epochs of \(n) examples")
        }
        try SafeTensors.write(
            [("x", job.data.x), ("y", job.data.y)],
            integers: [("order", [job.epochs, n], job.orders.flatMap { $0.map(Int64.init) })],
            metadata: ["retort_export": "torch", "dataset": job.data.name], to: path)
    }

    /// Moves the finished folder into place; an earlier export there is removed only once the new one is in.
    private static func replace(_ target: URL, with temporary: URL) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: target.path) else {
            try fm.moveItem(at: temporary, to: target)
            return
        }
        let old = target.deletingLastPathComponent().appendingPathComponent(
            ".\(target.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
        try fm.moveItem(at: target, to: old)
        do {
            try fm.moveItem(at: temporary, to: target)
        } catch {
            try? fm.moveItem(at: old, to: target)
            throw error
        }
        try? fm.removeItem(at: old)
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? TensorError { return e.message }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, let text = underlying.localizedFailureReason {
            return text
        }
        return ns.localizedFailureReason ?? ns.localizedDescription
    }
}
