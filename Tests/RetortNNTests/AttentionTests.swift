import Foundation
import RetortNN
import XCTest

@testable import RetortTensor

/// Self-attention's one-primitive path (`Attention.heads`, taken outside tracing) against the
/// composite a trace, a key-value cache or attention dropout takes: the same output, attention
/// weights and gradients, causal or not, one head or several, heads pruned, one position, through
/// the C loops small heads take and BLAS.
final class AttentionTests: XCTestCase {
    func testOnePrimitiveMatchesTheComposite() throws {
        let cases: [(n: Int, t: Int, width: Int, heads: Int, causal: Bool, kept: [Int]?)] = [
            (4, 16, 64, 4, true, nil),
            (2, 7, 12, 3, false, nil),
            (3, 5, 8, 1, true, nil),
            (2, 1, 8, 2, true, nil),
            (2, 6, 12, 4, true, [0, 3]),
            (2, 33, 96, 2, false, nil),
            (1, 40, 128, 1, true, nil),
        ]
        let saved = Attention.smallHead
        defer { Attention.smallHead = saved }
        var g = RandomGenerator(seed: 11)
        // Every case through the C loops small heads take and through BLAS's GEMMs larger ones take.
        for (c, smallHead) in cases.flatMap({ c in [(c, Int.max), (c, 0)] }) {
            Attention.smallHead = smallHead
            var layer = try SelfAttention(c.width, heads: c.heads, causal: c.causal, generator: &g)
            if let kept = c.kept { layer = try layer.keeping(heads: kept) }
            let x = g.normal([c.n, c.t, c.width])
            let seed = g.normal([c.n, c.t, c.width])
            let what =
                "n \(c.n) t \(c.t) width \(c.width) heads \(c.heads)\(c.causal ? " causal" : "")"
                + (smallHead == 0 ? " (BLAS)" : " (loops)")

            func run(composite: Bool) throws -> (Tensor, Tensor, [Tensor]) {
                let input = Variable(x, requiresGrad: true)
                for p in layer.parameters { p.grad = nil }
                var cache: KeyValueCache?
                let y = composite ? try layer.forward(input, cache: &cache) : try layer(input)
                try y.backward(seed: seed)
                let weights = try XCTUnwrap(layer.lastWeights).value
                return (y.value, weights, [input.grad ?? .zeros(x.shape)] + layer.parameters.map { $0.grad ?? .zeros($0.shape) })
            }
            let (fused, fusedWeights, fusedGrads) = try run(composite: false)
            let (composite, compositeWeights, compositeGrads) = try run(composite: true)
            // The fixture helper, with a tolerance relative to each tensor's largest value.
            func close(_ a: Tensor, _ b: Tensor, _ part: String) {
                XCTAssertEqual(a.shape, b.shape, "\(what): \(part)")
                let scale = b.scalars.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
                assertClose(
                    a.scalars, b.scalars, rtol: 0, atol: 1e-5 * (1 + scale),
                    "\(what): \(part), one primitive against the composite")
            }
            close(fused, composite, "output")
            close(fusedWeights, compositeWeights, "weights")
            for (i, (a, b)) in zip(fusedGrads, compositeGrads).enumerated() { close(a, b, "gradient \(i)") }
        }
    }

    /// Decoding with a key-value cache and no gradients (generation) goes through one pass per head
    /// (`Attention.cachedHeads`); with gradients on it takes the composite. Step by step, a prompt
    /// of several positions, then one or a few at a time, the two give the same outputs and attention
    /// weights (up to the order of the sums) and the same caches (copies of the same keys and
    /// values, bit for bit); a cache one path made, the other continues. Causal or not, one head
    /// or several, heads pruned, and through the dispatch at two threads.
    func testCachedDecodingMatchesTheComposite() throws {
        let saved = (BLAS.gemmLibrary, BLAS.threadCount)
        defer { (BLAS.gemmLibrary, BLAS.threadCount) = saved }
        BLAS.gemmLibrary = .oneDNN
        var g = RandomGenerator(seed: 12)
        let cases: [(n: Int, width: Int, heads: Int, causal: Bool, kept: [Int]?, threads: Int)] = [
            (4, 64, 4, true, nil, 1), (3, 12, 3, false, nil, 2), (2, 8, 1, true, nil, 1), (5, 12, 4, true, [0, 3], 2),
            (64, 64, 4, true, nil, 2),
        ]
        for c in cases {
            BLAS.threadCount = c.threads
            var layer = try SelfAttention(c.width, heads: c.heads, causal: c.causal, generator: &g)
            if let kept = c.kept { layer = try layer.keeping(heads: kept) }
            let what = "n \(c.n) width \(c.width) heads \(c.heads)\(c.causal ? " causal" : "") at \(c.threads) thread(s)"
            var (fast, composite, mixed): (KeyValueCache?, KeyValueCache?, KeyValueCache?) = (nil, nil, nil)
            // 6 positions after 7: the first four queries' last visible keys straddle a vector of 8.
            for (step, t) in [3, 1, 1, 2, 6, 1].enumerated() {
                let x = Variable(g.normal([c.n, t, c.width]))
                let a = try GradMode.withoutGradients { try layer.forward(x, cache: &fast) }
                let aWeights = try XCTUnwrap(layer.lastWeights).value
                let b = try layer.forward(x, cache: &composite)
                let bWeights = try XCTUnwrap(layer.lastWeights).value
                // The mixed cache alternates: the composite on even steps, the one pass on odd ones.
                let m =
                    step % 2 == 0
                    ? try layer.forward(x, cache: &mixed)
                    : try GradMode.withoutGradients {
                        try layer.forward(x, cache: &mixed)
                    }
                for (got, expected, part) in [
                    (a.value, b.value, "output"), (aWeights, bWeights, "weights"), (m.value, b.value, "mixed output"),
                ] {
                    XCTAssertEqual(got.shape, expected.shape, "\(what), step \(step): \(part)")
                    let scale = expected.scalars.reduce(Float(0)) { Swift.max($0, Swift.abs($1)) }
                    assertClose(
                        got.scalars, expected.scalars, rtol: 0, atol: 1e-5 * (1 + scale), "\(what), step \(step): \(part)")
                }
                let (f, e, x2) = (try XCTUnwrap(fast), try XCTUnwrap(composite), try XCTUnwrap(mixed))
                for (got, expected, part) in [
                    (f.keys.value, e.keys.value, "keys"), (f.values.value, e.values.value, "values"),
                    (x2.keys.value, e.keys.value, "mixed keys"), (x2.values.value, e.values.value, "mixed values"),
                ] {
                    XCTAssertEqual(got.shape, expected.shape, "\(what), step \(step): \(part)")
                    XCTAssertEqual(
                        got.scalars.map(\.bitPattern), expected.scalars.map(\.bitPattern), "\(what), step \(step): \(part)")
                }
            }
        }
    }

    /// A cache another layer made, whose keys do not fit this one, is refused on the one-pass path
    /// with an error naming the op and both shapes, not read out of bounds.
    func testAnotherLayersCacheIsAnError() throws {
        var g = RandomGenerator(seed: 13)
        let (narrow, wide) = (
            try SelfAttention(8, heads: 2, causal: true, generator: &g),
            try SelfAttention(12, heads: 2, causal: true, generator: &g)
        )
        var cache: KeyValueCache?
        _ = try GradMode.withoutGradients { try narrow.forward(Variable(g.normal([2, 3, 8])), cache: &cache) }
        XCTAssertThrowsError(
            try GradMode.withoutGradients { try wide.forward(Variable(g.normal([2, 1, 12])), cache: &cache) }
        ) { error in
            XCTAssertTrue("\(error)".contains("attention: cached keys [2, 2, 3, 4] do not match [2, 2, 3, 6]"), "\(error)")
        }
    }
}
