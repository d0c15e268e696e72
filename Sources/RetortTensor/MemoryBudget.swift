import Foundation

/// The largest tensor an operation may allocate, checked before allocating: a shape given as a
/// number (`zeros([32, 1e9])`), an outer product of two long vectors or a convolution padded by a
/// billion gets an error naming the op, the shape and the bytes asked for, as PyTorch's "cannot
/// allocate" does, and the session survives. Other buffers sized by a user's numbers (canvases,
/// histogram bins, strings) go through the same budget.
public enum MemoryBudget {
    /// Bytes one tensor may take: `RETORT_MAX_TENSOR_BYTES` in the environment, else 4 GiB.
    nonisolated(unsafe) public static var maximumBytes: Int = {
        if let text = ProcessInfo.processInfo.environment["RETORT_MAX_TENSOR_BYTES"], let n = Int(text), n > 0 { return n }
        return 4 << 30
    }()

    /// The most axes a tensor may have, as PyTorch's (its CPU tensors allow 64 dimensions).
    public static let maximumRank = 64

    /// Throws unless `shape` has at most `maximumRank` axes of sizes ≥ 0 whose product, as Float32,
    /// fits the budget.
    public static func check(_ op: String, _ shape: [Int]) throws {
        guard shape.count <= maximumRank else {
            throw TensorError(
                .shape, op, "a tensor of \(shape.count) axes is asked for; a tensor has at most \(maximumRank)")
        }
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
        guard !overflow else {
            throw TensorError(.budget, op, "a tensor of shape \(formatShape(shape)) needs more bytes than memory can address")
        }
        guard bytes <= maximumBytes else {
            throw TensorError(
                .budget,
                op,
                "a tensor of shape \(formatShape(shape)) needs \(describeBytes(bytes)), more than the \(describeBytes(maximumBytes)) one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
            )
        }
    }

    /// Throws unless `count` items of `bytesEach` bytes fit the same budget: for buffers sized by a
    /// user's numbers that are not tensors (a canvas's pixels, a histogram's bins, a string), which
    /// `what` names in the error ("a canvas of 9600 × 7200 pixels").
    public static func check(_ op: String, count: Int, bytesEach: Int, what: @autoclosure () -> String) throws {
        let (bytes, overflow) = count.multipliedReportingOverflow(by: bytesEach)
        guard count >= 0, !overflow else { throw TensorError(.budget, op, "\(what()) needs more bytes than memory can address") }
        guard bytes <= maximumBytes else {
            throw TensorError(
                .budget, op,
                "\(what()) needs \(describeBytes(bytes)), more than the \(describeBytes(maximumBytes)) one buffer may take (RETORT_MAX_TENSOR_BYTES sets it)"
            )
        }
    }

    /// The product of `sizes`, `Int.max` when it overflows (which `check(_:count:bytesEach:what:)` then
    /// refuses), so a count can be formed from a user's sizes without trapping.
    public static func product(_ sizes: [Int]) -> Int {
        var count = 1
        for size in sizes {
            let (product, overflow) = count.multipliedReportingOverflow(by: Swift.max(size, 0))
            if overflow { return Int.max }
            count = product
        }
        return count
    }

    /// `4.0 GiB`, `512 MiB`, `12 bytes`.
    public static func describeBytes(_ n: Int) -> String {
        let units = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where n >= size { return String(format: "%.1f %@", Double(n) / Double(size), name) }
        return "\(n) bytes"
    }
}
