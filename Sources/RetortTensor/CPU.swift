import Foundation

/// What the CPU offers, as Linux reports it.
public enum CPU {
    /// Whether the CPU has AVX-512F with the OS saving its registers (Linux lists the flag only then).
    public static let hasAVX512: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").contains("avx512f")
            ?? false
    }()
}
