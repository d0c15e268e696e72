import ArgumentParser
import Foundation
import RetortExport
import RetortNN
import RetortTensor

/// `retort bench`: training throughput and GEMM speed, in the same units as the PyTorch reference.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training throughput (samples/s) and sgemm GFLOPS.",
        discussion: """
            Workloads match bench/torch_reference.py; `bench/compare` runs both and prints them side by side.
            For training workloads, "gemm" is the GFLOPS sgemm reached inside the timed training steps (like the \
            rate, not counting the three warm-up steps), beside the GFLOPS the same calls (shape for shape, same \
            count) reach when run alone, after one untimed call each, replayed after each half second of \
            training, and the GFLOPS they reach replayed again over copies of their operands spanning 4 MB or \
            more, so that each call finds them out of the core's cache (gemm_alone_out_of_cache_gflops in \
            JSON). peak_rss_mb (JSON) is the process's peak resident memory while the workload ran, the \
            runtime's baseline included and the replays' buffers not.
            With more than one thread, each row also says how far apart the first two CPUs were just before \
            and just after the workload (a cache line's crossing time; core_ns and core_ns_after in JSON): \
            a virtual machine's host can move its vCPUs apart, and workloads whose threads share data then \
            run slower.
            Each row also says how many cores the workload kept busy while it ran and how many the rest of the \
            machine took meanwhile, other processes and time the host stole (cores_own and cores_others in \
            JSON; the text shows the latter from 0.25): a row slowed by another tenant says so.
            """)

    @Option(help: "BLAS threads (default: OpenBLAS's choice).") var threads: Int?
    @Option(help: "Time budget per workload, in seconds.") var seconds: Double = 3
    @Flag(help: "Print one JSON object per line.") var json = false
    @Option(help: "Run only workloads whose name contains this (repeatable).") var only: [String] = []
    @Option(
        help:
            "Also write each inference workload's model as ONNX into this folder (NAME.onnx, / as _), for bench/onnxruntime_reference.py."
    )
    var onnx: String?
    @Option(
        help: ArgumentHelp(
            "Switch this speed-up on and off every two steps in one process and print its speed-up (on over off).",
            discussion:
                "primitives is packed-weights and wide-primitives together. The rate shown is then both modes' together."
        ))
    var ab: BenchSwitch?
    @Option(
        help: ArgumentHelp(
            "With more than one thread, wait up to this many seconds before each workload for the first two CPUs to share a cache.",
            discussion:
                "A virtual machine's host can move its vCPUs apart; bench/compare passes this to both sides, so each starts on the same placement. The row says how long it waited (waited_s in JSON)."
        ))
    var waitTogether: Double = 0
    @Flag(
        help: ArgumentHelp(
            "Under each training workload, one line per GEMM shape: calls, time inside the step, GFLOPS inside and alone.",
            discussion:
                "Shapes by time, most first; NT means B is transposed. Calls overlapping on several threads (a convolution's chunks) each count their own time. With --ab, the time inside mixes both modes and the calls alone run with the switch on. In JSON: gemm_shapes."
        ))
    var shapes = false
    @Flag(
        help: ArgumentHelp(
            "Run each selected workload when its name arrives on standard input, one name a line, until the input ends.",
            discussion:
                "First prints the selected workloads' names as one JSON array. bench/compare --interleave runs PyTorch's reference the same way beside it, so a row's two sides run seconds apart rather than minutes."
        ))
    var serve = false

    func run() throws {
        guard seconds > 0, seconds.isFinite else {
            throw ValidationError("--seconds must be a number of seconds > 0 (got \(seconds))")
        }
        guard waitTogether >= 0, waitTogether.isFinite else {
            throw ValidationError("--wait-together must be a number of seconds >= 0")
        }
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            BLAS.threadCount = threads
        }
        let selected = Benchmarks.all.filter { w in only.isEmpty || only.contains { w.name.contains($0) } }
        guard !selected.isEmpty else { throw ValidationError("no workload matches --only \(only.joined(separator: ", "))") }
        if let onnx {
            try Self.makeFolder(onnx)
            for (batch, kind) in Benchmarks.inferenceShapes {
                for int8 in [false, true] {
                    let name = Benchmarks.inferenceName(kind, batch: batch, int8: int8)
                    guard only.isEmpty || only.contains(where: { name.contains($0) }) else { continue }
                    let (model, x) = try Benchmarks.inferenceModel(kind, batch: batch, int8: int8)
                    let path = (onnx as NSString).appendingPathComponent(name.replacingOccurrences(of: "/", with: "_") + ".onnx")
                    // Traced at two rows: the file's batch is dynamic, the reference feeds the workload's own.
                    let example = x.rows(Array(0..<Swift.min(2, x.shape[0])))
                    _ = try ONNXExport.export(model, example: example, to: path, name: name)
                }
            }
        }
        if serve {
            let names = try JSONSerialization.data(withJSONObject: selected.map(\.name), options: [.withoutEscapingSlashes])
            print(String(decoding: names, as: UTF8.self))
        }
        if !json {
            print("retort \(RetortVersion.current), \(BLASKernel.summary), \(seconds) s per workload")
            print(
                "workload".padding(toLength: 36, withPad: " ", startingAt: 0)
                    + "          rate unit       gemm GFLOPS in training           steps  seconds")
        }
        guard serve else {
            for workload in selected { try measure(workload) }
            return
        }
        fflush(stdout)
        while let line = readLine() {
            let name = line.trimmingCharacters(in: .whitespaces)
            if name.isEmpty { continue }
            guard let workload = selected.first(where: { $0.name == name }) else {
                throw ValidationError("--serve: '\(name)' is not one of the selected workloads")
            }
            try measure(workload)
        }
    }

    /// Makes `--onnx`'s folder if it is missing, or says why it cannot.
    private static func makeFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw ValidationError("--onnx '\(path)' is a file, not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ValidationError("--onnx: cannot make the folder '\(path)': \(reason)")
        }
    }

    /// From how many cores others took while a workload ran its row says so (JSON has it always).
    static let othersShown = 0.25

    /// Seconds of timed training steps between replays of their GEMM calls alone.
    static let replaySlice = 0.5

    /// Runs one workload and prints its row.
    private func measure(_ workload: Workload) throws {
        Benchmarks.resetPeakMemory()
        // Where the host has the CPUs now: a pair without a shared cache slows every workload
        // whose threads hand data to each other (docs/performance.md), so each row says.
        let (distance, waited) = Contention.requested > 1 ? CPU.waitForSharedCache(upTo: waitTogether) : (nil, 0)
        Contention.fewest = Contention.running
        let step = try workload.build()
        // The profile starts after the warm-up, as the timed steps do: the first steps' calls carry
        // oneDNN making its kernels for each shape (one 128x512x10 call took 31 ms, the others about
        // 20 µs), which the same calls alone, run once before they are timed, do not.
        let profiled = workload.batch != nil && workload.training
        // The same calls alone are replayed in slices, each after the half second of training that
        // made them: the host's other tenants change this machine's speed from second to second, and
        // a single replay after the whole run compared two different stretches of time.
        // Each slice is replayed twice: on warm buffers (the target's "alone"), and with the operands
        // out of the core's cache, as training leaves them, which says how much of a gap between
        // inside and alone is the cache rather than the GEMM.
        var alone: [GemmShape: Double] = [:]
        var outOfCache: [GemmShape: Double] = [:]
        var replayed: [GemmShape: Int] = [:]
        // The workload's peak memory, read before each replay and counted afresh after it: the
        // replays' buffers are the bench's, not the workload's, and are unmapped when they end.
        var peakBeforeReplays = 0.0
        let replay = {
            guard let profile = BLAS.profile else { return }
            peakBeforeReplays = max(peakBeforeReplays, Benchmarks.peakMemoryMB() ?? 0)
            defer { Benchmarks.restartPeakCount() }
            var pending: [GemmShape: Int] = [:]
            for (shape, calls) in profile.shapes { pending[shape] = calls - replayed[shape, default: 0] }
            BLAS.profile = nil  // the replay's calls are not training's
            for (shape, seconds) in Benchmarks.standaloneSeconds(for: pending) { alone[shape, default: 0] += seconds }
            for (shape, seconds) in Benchmarks.standaloneSeconds(for: pending, outOfCache: true) {
                outOfCache[shape, default: 0] += seconds
            }
            replayed = profile.shapes
            BLAS.profile = profile
        }
        let cpuTime = Contention.reading()
        let (steps, elapsed, speedup) = try Benchmarks.measure(
            step, seconds: seconds, toggle: ab?.toggle(), measuring: { BLAS.profile = profiled ? GemmProfile() : nil },
            pauseEvery: Self.replaySlice, pause: replay)
        let cores = cpuTime.flatMap { Contention.cores(since: $0) }
        let distanceAfter = distance == nil ? nil : CPU.coreDistance()
        let profile = BLAS.profile
        BLAS.profile = nil
        // The threads asked for, and the fewest the work ran on while other processes kept cores busy.
        var row: [String: Any] = [
            "workload": workload.name, "steps": steps, "seconds": elapsed, "threads": Contention.requested,
        ]
        if Contention.fewest < Contention.requested { row["threads_running"] = Contention.fewest }
        // The cores the workload kept busy and those the rest of the machine took meanwhile.
        if let cores {
            row["cores_own"] = (cores.own * 100).rounded() / 100
            row["cores_others"] = (cores.others * 100).rounded() / 100
        }
        if let ab, let speedup {
            row["ab"] = ab.rawValue
            row["ab_speedup"] = speedup
        }
        if let peak = Benchmarks.peakMemoryMB() { row["peak_rss_mb"] = max(peak, peakBeforeReplays) }
        if let distance { row["core_ns"] = distance.nanoseconds }
        if let distanceAfter { row["core_ns_after"] = distanceAfter.nanoseconds }
        if waited > 0 { row["waited_s"] = waited }
        let rate: Double
        let unit: String
        var shapeTimings: [Benchmarks.ShapeTiming] = []
        if let batch = workload.batch {
            rate = Double(batch * steps) / elapsed
            unit = workload.unit
            row["samples_per_s"] = rate
            if unit != "samples/s" { row["unit"] = unit }
            if let profile, profile.calls > 0 {
                row["gemm_gflops"] = profile.gigaflopsPerSecond
                row["gemm_share"] = profile.seconds / elapsed
                // The same calls, shape for shape, with nothing else running between them.
                row["gemm_alone_gflops"] = profile.flops / alone.values.reduce(0, +) / 1e9
                row["gemm_alone_out_of_cache_gflops"] = profile.flops / outOfCache.values.reduce(0, +) / 1e9
                if shapes {
                    shapeTimings = Benchmarks.shapeTimings(
                        profile, alone: alone, outOfCache: outOfCache, runSeconds: elapsed)
                    row["gemm_shapes"] = shapeTimings.map(\.json)
                }
            }
        } else {
            rate = (workload.flopsPerStep ?? 0) * Double(steps) / elapsed / 1e9
            unit = "GFLOPS"
            row["gflops"] = rate
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            let gemm =
                (row["gemm_gflops"] as? Double).map {
                    String(format: "%6.1f (%2.0f%% of time)", $0, 100 * (row["gemm_share"] as? Double ?? 0))
                } ?? ""
            let switched: String =
                (row["ab_speedup"] as? Double).map { "   \(ab?.rawValue ?? "") on/off " + String(format: "%.3fx", $0) } ?? ""
            var apart = ""
            if let distance {
                apart = String(format: "   CPUs %.0f", distance.nanoseconds)
                if let distanceAfter { apart += String(format: " -> %.0f", distanceAfter.nanoseconds) }
                apart += " ns apart"
                if waited > 0 { apart += String(format: " (waited %.1f s)", waited) }
            }
            let head: String =
                workload.name.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%14.1f ", rate)
                + unit.padding(toLength: 11, withPad: " ", startingAt: 0)
            let fewer =
                (row["threads_running"] as? Int).map { "   on \($0) of \(Contention.requested) threads (cores busy)" } ?? ""
            let others =
                (row["cores_others"] as? Double).flatMap {
                    $0 >= Self.othersShown ? String(format: "   others took %.2f cores", $0) : nil
                }
                ?? ""
            print(
                head + gemm.padding(toLength: 38, withPad: " ", startingAt: 0)
                    + String(format: "%6d %8.2f", steps, elapsed) + switched + apart + fewer + others)
            for timing in shapeTimings { print(timing.line) }
        }
        fflush(stdout)
    }
}
