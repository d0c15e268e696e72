import Foundation

/// The largest tensor an operation may allocate, checked before allocating: a shape given as a
/// number (`zeros([32, 1e9])`) or an outer product of two long vectors gets an error naming the op,
/// the shape and the bytes asked for, as PyTorch's "cannot allocate" does, and the session survives.
public enum MemoryBudget {
    /// Bytes one tensor may take: `RETORT_MAX_TENSOR_BYTES` in the environment, else 4 GiB.
    nonisolated(unsafe) public static var maximumBytes: Int = {
        if let text = ProcessInfo.processInfo.environment["RETORT_MAX_TENSOR_BYTES"], let n = Int(text), n > 0 { return n }
        return 4 << 30
    }()

    /// Throws unless `shape` is made of sizes ≥ 0 whose product, as Float32, fits the budget.
    public static func check(_ op: String, _ shape: [Int]) throws {
        if let negative = shape.first(where: { $0 < 0 }) {
            throw TensorError(.shape, op, "a shape cannot have negative sizes: \(formatShape(shape)) has \(negative)")
        }
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw TensorError(
                    .budget, op, "a tensor of shape \(formatShape(shape)) has more elements than memory can address")
            }
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow, bytes <= maximumBytes else {
            throw TensorError(
                .budget,
                op,
                "a tensor of shape \(formatShape(shape)) needs \(describeBytes(overflow ? Int.max : bytes)), more than the \(describeBytes(maximumBytes)) one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
            )
        }
    }

    /// `4.0 GiB`, `512 MiB`, `12 bytes`.
    public static func describeBytes(_ n: Int) -> String {
        let units = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where n >= size { return String(format: "%.1f %@", Double(n) / Double(size), name) }
        return "\(n) bytes"
    }
}
