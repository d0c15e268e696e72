@testable import RetortTensor

/// The inputs the image-loop tests share: whole numbers, and every window the loops branch on.
enum ImageCases {
    /// Whole numbers from −11 to 11, so sums are exact in any order.
    static func values(_ count: Int, seed: Int) -> [Float] {
        (0..<count).map { Float(($0 * 7919 + seed * 104_729) % 23) - 11 }
    }

    /// Every window over images of sizes 1-33 (rows of one, two and three AVX-512 vectors) that
    /// Window2D accepts, at kernels 1×1 to 5×5 (and 1×3, 3×2), strides 1-3 and paddings 0-2.
    static func windows(_ body: (Window2D) throws -> Void) throws {
        for (h, w) in [(1, 1), (2, 3), (3, 2), (4, 4), (5, 7), (7, 5), (9, 9), (6, 13), (3, 17), (2, 33)] {
            for kernel in [(1, 1), (2, 2), (3, 3), (1, 3), (3, 2), (5, 5)] {
                for stride in 1...3 {
                    for padding in 0...2 {
                        guard
                            let window = try? Window2D(
                                kernel: kernel, stride: stride, padding: padding, height: h, width: w, op: "test")
                        else { continue }
                        try body(window)
                    }
                }
            }
        }
    }
}
