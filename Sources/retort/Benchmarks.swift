import Foundation
import RetortNN
import RetortTensor

/// The benchmark's workloads, each one full training step as `bench/torch_reference.py` defines it.
struct Workload {
    let name: String
    /// Samples per step, or nil for a bare GEMM measured in GFLOPS.
    let batch: Int?
    let flopsPerStep: Double?
    /// Whether a step trains (forward, backward, update) or only predicts.
    var training = true
    /// What `batch` counts per step: samples, or tokens for generation.
    var unit = "samples/s"
    let build: () throws -> () throws -> Void
}

enum Benchmarks {
    static func labels(_ n: Int, classes: Int, generator g: inout RandomGenerator) -> Variable {
        Variable(Tensor((0..<n).map { _ in Float(g.nextInt(below: classes)) }))
    }

    /// One step of the trainer `fit` uses: forward, cross-entropy, backward, SGD-momentum update.
    static func classifierStep(_ model: Layer, _ x: Variable, _ y: Variable) throws -> () throws -> Void {
        let optimizer = PlainOptimizer(try SGD(model.parameters, learningRate: 0.01, momentum: 0.9))
        return try trainerStep(model, x, y, optimizer: optimizer) { batch in
            let output = try model(batch.x)
            return Trainer.Step(loss: try Loss.crossEntropy(output, target: Variable(batch.y)), output: output)
        }
    }

    /// A closure running one `Trainer.train` on the same batch each time.
    static func trainerStep(
        _ model: Layer, _ x: Variable, _ y: Variable, optimizer: TrainingOptimizer,
        loss: @escaping (Trainer.Batch) throws -> Trainer.Step
    ) throws -> () throws -> Void {
        let data = try Dataset(x: x.value, y: y.value, classes: 10, name: "bench")
        let trainer = Trainer(
            task: "bench", model: model, data: data, settings: TrainingSettings(epochs: 1, batchSize: data.count),
            optimizer: optimizer, loss: loss)
        let batch = Trainer.Batch(indices: Array(0..<data.count), x: x, y: y.value)
        return { try trainer.train(batch) }
    }

    static let all: [Workload] =
        [
            mlp([784, 512, 512, 10], batch: 128),
            // How cost grows with the batch, and a CIFAR-sized CNN (3×32×32, conv 3→32→64).
            mlp([784, 512, 512, 10], batch: 32),
            mlp([784, 512, 512, 10], batch: 512),
            convolutional("cnn-cifar-32x32/b128", channels: [3, 32, 64], size: 32, batch: 128),
            mlp([64, 32, 10], batch: 64),
            convolutional("cnn-28x28/b64", channels: [1, 16, 32], size: 28, batch: 64),
            Workload(name: "distill-784/b128", batch: 128, flopsPerStep: nil) {
                var g = RandomGenerator(seed: 0)
                let teacher = Sequential.perceptron([784, 512, 512, 10], generator: &g)
                teacher.isTraining = false
                let student = Sequential.perceptron([784, 64, 10], generator: &g)
                let x = Variable(g.normal([128, 784]))
                let y = labels(128, classes: 10, generator: &g)
                let optimizer = PlainOptimizer(try Adam(student.parameters, learningRate: 1e-3))
                let (t, alpha): (Float, Float) = (4, 0.7)
                return try trainerStep(student, x, y, optimizer: optimizer) { batch in
                    let soft = try GradMode.withoutGradients { try (teacher(batch.x) * (1 / t)).softmax(axis: 1) }
                    let s = try student(batch.x)
                    let kd = try Loss.klDiv((s * (1 / t)).logSoftmax(axis: 1), soft, reduction: .batchmean)
                    let loss = try kd * (alpha * t * t) + Loss.crossEntropy(s, target: Variable(batch.y)) * (1 - alpha)
                    return Trainer.Step(loss: loss, output: s)
                }
            },
        ]
        + language
        + inference
        + [(128, 784, 512), (128, 512, 512), (512, 512, 512), (1024, 1024, 1024)].map { m, k, n in
            Workload(name: "sgemm/\(m)x\(k)x\(n)", batch: nil, flopsPerStep: 2 * Double(m * k * n)) {
                var g = RandomGenerator(seed: 0)
                let a = g.normal([m, k])
                let b = g.normal([k, n])
                var c = Tensor.zeros([m, n])
                return {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                BLAS.gemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                            }
                        }
                    }
                }
            }
        }

    /// Training an MLP of these sizes on random data, `mlp-784-512-512-10/b128`.
    static func mlp(_ sizes: [Int], batch: Int) -> Workload {
        Workload(name: "mlp-" + sizes.map(String.init).joined(separator: "-") + "/b\(batch)", batch: batch, flopsPerStep: nil) {
            var g = RandomGenerator(seed: 0)
            let model = Sequential.perceptron(sizes, generator: &g)
            return try classifierStep(
                model, Variable(g.normal([batch, sizes[0]])), labels(batch, classes: sizes[sizes.count - 1], generator: &g))
        }
    }

    /// Two 3×3 convolutions (`channels` in → out → out), each with ReLU and 2×2 max pooling, then a
    /// Linear to 10 classes, on `size`×`size` images.
    static func cnn(channels c: [Int], size: Int, _ g: inout RandomGenerator) -> Sequential {
        Sequential([
            Conv2d(c[0], c[1], kernel: 3, padding: 1, generator: &g), Activation(.relu), Pool2d(.max, kernel: 2),
            Conv2d(c[1], c[2], kernel: 3, padding: 1, generator: &g), Activation(.relu), Pool2d(.max, kernel: 2),
            Flatten(), Linear(c[2] * (size / 4) * (size / 4), 10, generator: &g),
        ])
    }

    static func convolutional(_ name: String, channels: [Int], size: Int, batch: Int) -> Workload {
        Workload(name: name, batch: batch, flopsPerStep: nil) {
            var g = RandomGenerator(seed: 0)
            let model = cnn(channels: channels, size: size, &g)
            return try classifierStep(
                model, Variable(g.normal([batch, channels[0], size, size])), labels(batch, classes: 10, generator: &g))
        }
    }

    /// The language-model workloads: training the GPT lesson 7's teacher is (4 layers, 4 heads,
    /// width 64, block 16, vocabulary 27: the names) with AdamW on random ids, and sampling 64
    /// names at a time with the key-value cache, every position filled (tokens per second).
    static let language: [Workload] = [
        Workload(name: "gpt-names-4x64/b64", batch: 64, flopsPerStep: nil) {
            var g = RandomGenerator(seed: 0)
            let model = try GPT.make(vocabulary: 27, block: 16, layers: 4, heads: 4, width: 64, generator: &g)
            let x = Variable(Tensor(shape: [64, 16]) { p in for i in 0..<p.count { p[i] = Float(g.nextInt(below: 27)) } })
            let y = Variable(Tensor(shape: [64, 16]) { p in for i in 0..<p.count { p[i] = Float(g.nextInt(below: 27)) } })
            let optimizer = PlainOptimizer(
                try Adam(model.parameters, learningRate: 1e-3, weightDecay: 0.01, decoupled: true))
            return try trainerStep(model, x, y, optimizer: optimizer) { batch in
                let logits = try model(batch.x)
                return Trainer.Step(loss: try Loss.crossEntropy(logits, target: Variable(batch.y)), output: logits)
            }
        },
        Workload(name: "generate-gpt-names-4x64/b64", batch: 64 * 15, flopsPerStep: nil, training: false, unit: "tokens/s") {
            var g = RandomGenerator(seed: 0)
            let model = try GPT.make(vocabulary: 27, block: 16, layers: 4, heads: 4, width: 64, generator: &g)
            return {
                _ = try Generation.sample(
                    model, prompt: [], settings: .init(count: 64, stopsAtEnd: false), block: 16, generator: &g)
            }
        },
    ]

    /// Inference (a forward pass without gradients) in float32 and as the int8 model `quantize`
    /// makes, calibrated on the same input; PyTorch's rows are its float model and its int8 model
    /// (`quantize_dynamic` for the MLP, static x86 quantisation for the CNN).
    static let inference: [Workload] = inferenceShapes.flatMap { batch, kind in
        [false, true].map { int8 in
            Workload(name: inferenceName(kind, batch: batch, int8: int8), batch: batch, flopsPerStep: nil, training: false) {
                let (model, x) = try inferenceModel(kind, batch: batch, int8: int8)
                return { _ = try GradMode.withoutGradients { try model.forward(Variable(x)) } }
            }
        }
    }

    /// The inference workloads: batch and model kind.
    static let inferenceShapes = [(1, "mlp"), (128, "mlp"), (64, "cnn")]

    static func inferenceName(_ kind: String, batch: Int, int8: Bool) -> String {
        (kind == "mlp" ? "infer-mlp-784-512-512-10/b\(batch)" : "infer-cnn-28x28/b\(batch)") + (int8 ? "/int8" : "/f32")
    }

    /// An inference workload's model (float, or the int8 model `quantize` makes, calibrated on the
    /// input) and its input, the same on every call: what `--onnx` exports for onnxruntime.
    static func inferenceModel(_ kind: String, batch: Int, int8: Bool) throws -> (Layer, Tensor) {
        var g = RandomGenerator(seed: 0)
        let float =
            kind == "mlp"
            ? Sequential.perceptron([784, 512, 512, 10], generator: &g) : cnn(channels: [1, 16, 32], size: 28, &g)
        float.isTraining = false
        let x = kind == "mlp" ? g.normal([batch, 784]) : g.normal([batch, 1, 28, 28])
        guard int8 else { return (float, x) }
        let observed = try Quantizer.prepare(float, stage: .calibrating, perChannel: true)
        try Calibration.observe(observed, on: x)
        return (try Quantizer.convert(observed), x)
    }

    /// Peak resident memory since the last `resetPeakMemory`, in MB (Linux's VmHWM), or nil.
    static func peakMemoryMB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kB = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kB / 1024
    }

    /// Returns freed heap to the system and restarts the peak-memory count at the current size, so
    /// the next workload's peak is its own (plus the process's baseline, which PyTorch's has too).
    static func resetPeakMemory() {
        HeapMemory.release()
        restartPeakCount()
    }

    /// Restarts the kernel's peak-memory count (VmHWM) at the current resident size.
    static func restartPeakCount() {
        if let file = fopen("/proc/self/clear_refs", "w") {
            fputs("5", file)
            fclose(file)
        }
    }

    /// The seconds sgemm alone takes for the given calls, shape by shape: each shape replayed as
    /// many times as training called it, so the flops match the training run's.
    ///
    /// By default on warm buffers (one untimed call first): each call finds its operands in the
    /// core's cache, where the call before left them. `outOfCache` rotates each shape's calls over
    /// copies of its operands spanning `evictionSpan` bytes or more, so each call finds them out of
    /// the core's own cache (in the shared L3, or in memory), where a training step whose data
    /// outgrows that cache leaves its weights and most of its activations: the 784-512-512-10 MLP's
    /// step touches about 10 MB between two uses of one weight.
    static func standaloneSeconds(for calls: [GemmShape: Int], outOfCache: Bool = false) -> [GemmShape: Double] {
        var g = RandomGenerator(seed: 1)
        var seconds: [GemmShape: Double] = [:]
        for (shape, calls) in calls where calls > 0 {
            let (aCount, bCount, cCount) = (shape.m * shape.k, shape.k * shape.n, shape.m * shape.n)
            let bytes = (aCount + bCount + cCount) * MemoryLayout<Float>.stride
            let copies = outOfCache ? max(2, (evictionSpan + bytes - 1) / bytes + 1) : 1
            // B and C a cache line further along each than a whole number of pages after A: the
            // mapping starts on a page, and operands a multiple of 4 KB apart would share the L1's sets.
            let line = 16
            let buffer = ReplayBuffer(floats: (aCount + bCount + cCount) * copies + 2 * line)
            defer { buffer.release() }
            let (pa, pb) = (buffer.floats, buffer.floats + aCount * copies + line)
            let pc = pb + bCount * copies + line
            for i in 0..<(aCount * copies) { pa[i] = g.nextNormal() }
            for i in 0..<(bCount * copies) { pb[i] = g.nextNormal() }
            var turn = 0
            let run = {
                let copy = turn % copies
                turn += 1
                BLAS.gemm(
                    m: shape.m, n: shape.n, k: shape.k, a: pa + copy * aCount, transposeA: shape.transposeA,
                    b: pb + copy * bCount, transposeB: shape.transposeB, c: pc + copy * cCount)
            }
            for _ in 0..<copies { run() }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<calls { run() }
            seconds[shape] = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        return seconds
    }

    /// Memory for a replay's operands straight from the kernel, given back when the replay ends, so
    /// the process's resident size drops back and the workload's peak is not the replay's.
    /// (Malloc's memory would stay resident: the heap is tuned to keep what it frees.) Should the
    /// kernel refuse, the heap's, counted in the peak as before.
    struct ReplayBuffer {
        let floats: UnsafeMutablePointer<Float>
        let bytes: Int
        let mapped: Bool

        init(floats count: Int) {
            bytes = max(count, 1) * MemoryLayout<Float>.stride
            if let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                address != MAP_FAILED
            {
                floats = address.bindMemory(to: Float.self, capacity: max(count, 1))
                mapped = true
            } else {
                floats = .allocate(capacity: max(count, 1))
                floats.initialize(repeating: 0, count: max(count, 1))
                mapped = false
            }
        }

        func release() {
            if mapped { munmap(floats, bytes) } else { floats.deallocate() }
        }
    }

    /// Bytes an out-of-cache replay touches between two uses of one copy of the operands: twice the
    /// largest per-core L2 of the machines measured here (1 MB on the Zen 4, 2 MB on some Xeons),
    /// four times the L2 of the two cores together on the Zen 4.
    static let evictionSpan = 4 << 20

    /// One GEMM shape of a profiled step: its calls, their time inside training, that time's share
    /// of the run, and the GFLOPS inside, alone, and alone with the operands out of the core's cache.
    struct ShapeTiming {
        let shape: GemmShape
        let calls: Int
        let seconds, share, gflops, aloneGflops, outOfCacheGflops: Double

        var json: [String: Any] {
            [
                "m": shape.m, "n": shape.n, "k": shape.k, "transpose_a": shape.transposeA,
                "transpose_b": shape.transposeB, "calls": calls, "seconds": seconds, "share": share,
                "gflops": gflops, "alone_gflops": aloneGflops, "alone_out_of_cache_gflops": outOfCacheGflops,
            ]
        }

        /// `  128x512x10 NN     1234 calls    0.073 s ( 2.4%)    12.7 GFLOPS inside,    87.7 alone,    80.1 out of cache`.
        var line: String {
            let geometry =
                "\(shape.m)x\(shape.n)x\(shape.k) " + (shape.transposeA ? "T" : "N") + (shape.transposeB ? "T" : "N")
            return "  " + geometry.padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(
                    format: "%7d calls %8.3f s (%4.1f%%) %7.1f GFLOPS inside, %7.1f alone, %7.1f out of cache", calls,
                    seconds, 100 * share, gflops, aloneGflops, outOfCacheGflops)
        }
    }

    /// Every shape of a profiled step, the most time first.
    static func shapeTimings(
        _ profile: GemmProfile, alone: [GemmShape: Double], outOfCache: [GemmShape: Double], runSeconds: Double
    ) -> [ShapeTiming] {
        profile.shapes.map { shape, calls in
            let flops = 2 * Double(shape.m) * Double(shape.n) * Double(shape.k) * Double(calls)
            let inside = profile.shapeSeconds[shape] ?? 0
            let rate = { (seconds: Double?) in (seconds ?? 0) > 0 ? flops / (seconds ?? 0) / 1e9 : 0 }
            return ShapeTiming(
                shape: shape, calls: calls, seconds: inside, share: inside / runSeconds, gflops: rate(inside),
                aloneGflops: rate(alone[shape]), outOfCacheGflops: rate(outOfCache[shape]))
        }.sorted { $0.seconds > $1.seconds }
    }

    /// Warms up, then runs whole steps until `seconds` have passed; returns steps and time.
    ///
    /// With `toggle`, runs two steps with it on, two with it off, and so on (warming up both), and
    /// also returns the speed with it on over the speed with it off, each mode timed on its own steps.
    /// `measuring` is called once the warm-up is done, just before the timed steps (where the bench
    /// starts its GEMM profile, so the calls it counts are the timed steps' alone). `pause` is called
    /// (with any toggle on) after each `pauseEvery` seconds of timed steps and after the last; its
    /// time is not the steps' (the bench replays there the GEMM calls made since the last pause,
    /// alone, so the two are measured close together in time).
    static func measure(
        _ step: () throws -> Void, seconds: Double, warmup: Int = 3, toggle: ((Bool) -> Void)? = nil,
        measuring: () -> Void = {}, pauseEvery: Double = .infinity, pause: () -> Void = {}
    ) throws -> (steps: Int, seconds: Double, speedup: Double?) {
        defer { toggle?(true) }
        for _ in 0..<warmup {
            for mode in toggle == nil ? [true] : [true, false] {
                toggle?(mode)
                try step()
            }
        }
        measuring()
        var elapsed = 0.0
        var sincePause = 0.0
        var steps = 0
        var spent = (on: 0.0, off: 0.0)
        while true {
            let began = DispatchTime.now().uptimeNanoseconds
            for mode in toggle == nil ? [true] : [true, false] {
                toggle?(mode)
                let modeBegan = DispatchTime.now().uptimeNanoseconds
                let count = toggle == nil ? 1 : 2
                for _ in 0..<count { try step() }
                let took = Double(DispatchTime.now().uptimeNanoseconds - modeBegan)
                if mode { spent.on += took } else { spent.off += took }
                steps += count
            }
            let took = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
            elapsed += took
            sincePause += took
            let done = elapsed >= seconds
            if done || sincePause >= pauseEvery {
                toggle?(true)
                pause()
                sincePause = 0
            }
            if done { return (steps, elapsed, toggle == nil || spent.on == 0 ? nil : spent.off / spent.on) }
        }
    }
}
