/// `count` values in [-1, 1) from a 64-bit linear congruential generator advanced in `state`: the
/// GEMM tests' operands, the same on every machine and every run.
func uniformValues(_ count: Int, _ state: inout UInt64) -> [Float] {
    (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 23) - 1
    }
}
