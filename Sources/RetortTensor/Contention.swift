import Foundation

/// Another process keeping a core busy stalls every parallel region: the pool's other threads wait
/// for that core, a scheduler slice at a time, at each region's start and end. Measured on the
/// 2-vCPU Zen 4 with a busy loop on one CPU, distill-784/b128 at two threads fell from 110,898
/// samples/s to 24,151, below its own one-thread 61,043 (PyTorch's alike: 62,538 to 17,120, its one
/// thread 41,171). So every quarter second a training step or a prediction reads how much CPU time
/// the machine's other processes took since the last look (`/proc/stat` less this process's own,
/// `/proc/self/stat`): while they keep more than half a core busy, the work runs on the cores they
/// leave (one at the least), and on all the threads asked for again once they stop. A result is
/// the same bit for bit either way (`Parallel`). `RETORT_CONTENTION=off` keeps the threads asked
/// for, for measuring.
public enum Contention {
    /// Between two looks.
    public static let interval: UInt64 = 250_000_000
    /// The threads asked for (`BLAS.threadCount`'s setter), whatever runs now.
    nonisolated(unsafe) public internal(set) static var requested = 1
    /// The threads the work runs on now, fewer than `requested` while others keep cores busy.
    nonisolated(unsafe) public private(set) static var running = 1
    /// How many times the work went to fewer threads because other processes kept cores busy.
    nonisolated(unsafe) public private(set) static var reductions = 0
    /// The fewest threads the work ran on since it was last set (the bench sets it before each
    /// workload, to say when one ran on fewer threads than asked for).
    nonisolated(unsafe) public static var fewest = 1
    nonisolated(unsafe) private static var last: (time: UInt64, busy: Double, own: Double)?
    public static let isEnabled =
        getenv("RETORT_CONTENTION").map { String(cString: $0) } != "off"
        && FileManager.default.isReadableFile(atPath: "/proc/stat")

    /// Looks when a quarter second has passed since the last look; a clock read otherwise. Called
    /// between steps, never inside a parallel region.
    public static func check() {
        guard isEnabled, requested > 1, BLAS.gemmLibrary == .oneDNN else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        if let last, now &- last.time < interval { return }
        // Not time the host stole: a vCPU the host takes away for a moment is not another process's.
        guard let busy = machineSeconds()?.busy, let own = ownSeconds() else { return }
        defer { last = (now, busy, own) }
        // A look long after the last (this process idle meanwhile, another's turn in the bench or
        // a notebook's next cell) says what happened then, not now: it only starts a new window.
        guard let last, now &- last.time <= 2 * interval else { return }
        let seconds = Double(now &- last.time) / 1e9
        let others = Swift.max(0, (busy - last.busy) - (own - last.own)) / seconds
        record(othersBusy: others, cpus: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Takes how many cores other processes kept busy: the work runs on the cores left, rounded
    /// (half a core busy or less leaves them all), at least one and at most the threads asked for.
    static func record(othersBusy: Double, cpus: Int) {
        let left = Int((Double(cpus) - othersBusy + 0.5).rounded(.down))
        let threads = Swift.max(1, Swift.min(requested, left))
        guard threads != running else { return }
        if threads < running { reductions += 1 }
        running = threads
        fewest = Swift.min(fewest, threads)
        BLAS.setRunningThreads(threads)
    }

    /// Back to the threads asked for, with no look behind (a new thread count, a test).
    static func reset() {
        running = requested
        last = nil
    }

    /// Seconds every CPU spent busy since boot (user, nice, system, irq, softirq; not idle or I/O
    /// wait), and seconds the host stole from them (a virtual machine's vCPU waiting for a physical
    /// one), from the first line of `/proc/stat`.
    private static func machineSeconds() -> (busy: Double, stolen: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 8 else { return nil }
        return ((fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / ticksPerSecond, fields[7] / ticksPerSecond)
    }

    /// The CPU time this process and the rest of the machine took at one moment, for `cores(since:)`.
    public struct Reading: Sendable {
        let time: UInt64
        let busy: Double
        let stolen: Double
        let own: Double
    }

    /// Now's reading, or nil where `/proc` cannot be read.
    public static func reading() -> Reading? {
        guard let machine = machineSeconds(), let own = ownSeconds() else { return nil }
        return Reading(time: DispatchTime.now().uptimeNanoseconds, busy: machine.busy, stolen: machine.stolen, own: own)
    }

    /// Since `start`, on average: the cores this process kept busy, and the cores the rest of the
    /// machine took from it (other processes, and time the host stole). The bench records both for
    /// each row, so a slow row says whether the machine was its own.
    public static func cores(since start: Reading) -> (own: Double, others: Double)? {
        guard let now = reading(), now.time > start.time else { return nil }
        let seconds = Double(now.time - start.time) / 1e9
        let own = (now.own - start.own) / seconds
        let others = Swift.max(0, (now.busy - start.busy) + (now.stolen - start.stolen) - (now.own - start.own)) / seconds
        return (own, others)
    }

    /// Seconds this process's threads spent on a CPU, from `/proc/self/stat` (utime and stime).
    private static func ownSeconds() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    private static let ticksPerSecond = Double(Swift.max(sysconf(Int32(_SC_CLK_TCK)), 1))
}
