import RetortTensor

/// The int8 matrix product behind quantised layers: `C[m×n] (int32) = A[m×k] (uint8, 0…127) · Bᵀ`,
/// `B[n×k]` int8 weights packed once when the layer is made.
public enum Int8Kernel {
    /// Weights in the layout the kernel reads, with each row's sum (for the zero-point correction).
    public struct Packed {
        let rows: Int
        let depth: Int
        let values: [Int8]
        public let rowSums: [Int32]
    }

    /// Which code path runs on this CPU.
    public static var path: String { "swift-scalar" }

    public static func pack(_ weights: [Int8], rows: Int, depth: Int) -> Packed {
        var sums = [Int32](repeating: 0, count: rows)
        for r in 0..<rows {
            var s: Int32 = 0
            for i in 0..<depth { s += Int32(weights[r * depth + i]) }
            sums[r] = s
        }
        return Packed(rows: rows, depth: depth, values: weights, rowSums: sums)
    }

    /// `out[m×n] = a · packedᵀ` in exact int32 arithmetic.
    public static func gemm(_ a: UnsafePointer<UInt8>, m: Int, _ b: Packed, into out: UnsafeMutablePointer<Int32>) {
        b.values.withUnsafeBufferPointer { w in
            for i in 0..<m {
                for j in 0..<b.rows {
                    var s: Int32 = 0
                    for t in 0..<b.depth { s += Int32(a[i * b.depth + t]) * Int32(w[j * b.depth + t]) }
                    out[i * b.rows + j] = s
                }
            }
        }
    }
}
