import CRetortCPU
import Foundation

/// What the CPU offers, as Linux reports it.
public enum CPU {
    /// Whether the CPU has AVX-512F with the OS saving its registers (Linux lists the flag only then).
    public static let hasAVX512: Bool = flags.contains("avx512f")

    /// Whether the CPU has AVX2 and FMA (a Zen 3, or any CPU with AVX-512 here), with the OS saving
    /// their registers.
    public static let hasAVX2FMA: Bool = flags.contains("avx2") && flags.contains("fma")

    /// The first CPU's flags as /proc/cpuinfo lists them (empty when Linux does not say).
    static let flags: Set<Substring> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(line.split(separator: " "))
    }()
}

/// Two CPUs and how long a cache line took to cross between them when measured.
public struct CoreDistance: Sendable, Equatable {
    public let first: Int
    public let second: Int
    public let nanoseconds: Double

    /// Below this a pair likely shares a cache: 30 to 45 ns on the 2-vCPU Zen 4 the benchmarks ran
    /// on while the host kept both vCPUs on one chiplet, 150 to 175 ns while it put them on two.
    public static let sharedCacheBound = 100.0

    public var sharesCache: Bool { nanoseconds < Self.sharedCacheBound }

    /// One line for `retort info` and the bench.
    public var summary: String {
        let ns = String(format: "%.0f ns", nanoseconds)
        let reading =
            sharesCache
            ? "under 100 ns: a shared L3, likely"
            : "over 100 ns: separate L3s, likely; threads that hand data to each other run slower now"
        return "CPUs \(first) and \(second) hand a cache line over in \(ns) (\(reading))"
    }
}

extension CPU {
    /// The CPUs this process may run on, lowest first (empty when Linux does not say).
    public static func allowed() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = Int(retort_allowed_cpus(&cpus, Int32(cpus.count)))
        return cpus.prefix(count).map(Int.init)
    }

    /// The crossing time between the first two CPUs this process may run on, measured now: the
    /// median of five runs of `trips` round trips (a few milliseconds in all). nil with fewer than
    /// two CPUs, or when either cannot be pinned. The calling thread's CPUs are as before afterwards.
    /// A virtual machine's host can move its vCPUs while a process runs, so this says how the CPUs
    /// stood when measured, not for good.
    public static func coreDistance(trips: Int = 1000) -> CoreDistance? {
        let cpus = allowed()
        guard cpus.count >= 2 else { return nil }
        return coreDistance(between: cpus[0], and: cpus[1], trips: trips)
    }

    /// The crossing time between two given CPUs (see `coreDistance(trips:)`); nil when they are the
    /// same or either cannot be used.
    public static func coreDistance(between first: Int, and second: Int, trips: Int = 1000) -> CoreDistance? {
        var runs: [Double] = []
        for _ in 0..<5 {
            let ns = retort_core_latency_ns(Int32(first), Int32(second), trips)
            guard ns > 0 else { return nil }
            runs.append(ns)
        }
        return CoreDistance(first: first, second: second, nanoseconds: runs.sorted()[runs.count / 2])
    }

    /// Measures the first two CPUs' distance until it is under `CoreDistance.sharedCacheBound` or
    /// `seconds` have gone by, measuring every 50 ms; returns the last measurement (nil with fewer
    /// than two CPUs) and the seconds spent waiting. With `seconds` 0 it measures once. (`measure`,
    /// `pause` and `clock`, in seconds, are for tests.)
    public static func waitForSharedCache(
        upTo seconds: Double, measure: () -> CoreDistance? = { coreDistance() },
        pause: () -> Void = { usleep(50_000) },
        clock: () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
    ) -> (distance: CoreDistance?, waited: Double) {
        let start = clock()
        var waited = 0.0
        var distance = measure()
        while let current = distance, !current.sharesCache, waited < seconds {
            pause()
            distance = measure()
            waited = clock() - start
        }
        return (distance, waited)
    }
}
