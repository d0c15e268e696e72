import RetortTensor
import XCTest

/// Bad input gets an error that names the op and what was wrong, never a crash.
final class ErrorTests: XCTestCase {
    func assertError(_ body: @autoclosure () throws -> Any, _ expected: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual("\(error)", expected, line: line)
        }
    }

    let a = Tensor.zeros([32, 64])
    let b = Tensor.zeros([32, 10])

    func testShapeErrorsNameTheOpAndBothShapes() {
        assertError(try a.matmul(b), "matmul: inner dimensions differ: [32, 64] @ [32, 10]")
        assertError(try a + b, "add: shapes cannot be broadcast together: [32, 64] and [32, 10]")
        assertError(try Variable(a) * Variable(b), "mul: shapes cannot be broadcast together: [32, 64] and [32, 10]")
        assertError(
            try Tensor.concat([a, Tensor.zeros([2, 3])], axis: 0), "concat: shapes differ outside axis 0: [32, 64] and [2, 3]")
        assertError(try a.reshaped([5, -1]), "reshape: cannot reshape [32, 64] (2048 elements) to [5, -1]")
        assertError(
            try Variable.linear(Variable(a), weight: Variable(b), bias: nil),
            "linear: input [32, 64] does not match weight [32, 10]: expected [..., 10]")
        assertError(
            try Loss.klDiv(Variable(a), Variable(b), reduction: .batchmean),
            "kl_div: input and target shapes differ: [32, 64] and [32, 10]")
        assertError(
            try Variable.conv2d(Variable(.zeros([1, 3, 8, 8])), weight: Variable(.zeros([4, 2, 3, 3])), bias: nil),
            "conv2d: weight [4, 2, 3, 3] does not match input [1, 3, 8, 8]: expected [out, 3, kh, kw]")
        assertError(try Tensor(shape: [2, 2], scalars: [1, 2, 3]), "tensor: shape [2, 2] holds 4 elements but 3 were given")
    }

    func testAxisAndIndexErrorsSayWhich() {
        assertError(try a.sum(axes: [2]), "sum: axis 2 is out of range for a tensor of rank 2")
        assertError(try Variable(a).softmax(axis: -3), "softmax: axis -3 is out of range for a tensor of rank 2")
        assertError(try a.selecting(axis: 1, index: 64), "select: index 64 is out of range for axis 1 of size 64 in [32, 64]")
        assertError(
            try Loss.crossEntropy(Variable(.zeros([2, 3])), target: Variable(Tensor([0, 3]))),
            "cross_entropy: target class 3 is outside 0..<3 at position 1 (-1 is ignored)")
        assertError(
            try Loss.nll(Variable(.zeros([2, 3])), target: Variable(Tensor([0, 3]))),
            "nll: target class 3 is outside 0..<3 at position 1")
        assertError(
            try Loss.cosineSimilarity(Variable(Tensor([1, 2, 3])), Variable(Tensor([1, 2, 3]))),
            "cosine_similarity: axis 1 is out of range for [3] and [3] (of two vectors: axis: 0)")
        assertError(try Tensor([0.5]).oneHot(classes: 2), "one_hot: label 0.5 is not a whole number in 0..<2 at position 0")
        assertError(try Tensor([0, 3]).oneHot(classes: 3), "one_hot: label 3 is outside 0..<3 at position 1")
    }

    /// Reductions over nothing give PyTorch's answers (torch.zeros(0, 3).mean() is nan,
    /// torch.logsumexp(torch.zeros(2, 0), 1) is [-inf, -inf]): the mean was 0 and logsumexp an
    /// error naming max.
    func testMeanAndLogSumExpOverNothingAreNaNAndMinusInfinity() throws {
        let empty = Variable(Tensor.zeros([0, 3]), requiresGrad: true)
        XCTAssertTrue(try empty.mean().value.scalar?.isNaN ?? false)
        XCTAssertEqual(try empty.mean(axes: [0]).value.shape, [3])
        XCTAssertTrue(try empty.mean(axes: [0]).value.scalars.allSatisfy(\.isNaN))
        let rows = Variable(Tensor.zeros([2, 0]))
        XCTAssertEqual(try rows.logSumExp(axes: [1]).value.scalars, [-.infinity, -.infinity])
        XCTAssertEqual(try rows.logSumExp().value.scalar, -.infinity)
        XCTAssertEqual(try Variable(Tensor.zeros([0, 3])).logSumExp(axes: [1]).value.shape, [0])
    }

    /// A sum over an axis of many values with a large offset stays as accurate as the whole-tensor
    /// sum: one running float sum over 50,000 values near -74 drifted by 0.01 of the mean (standardize
    /// then shifted a feature by a third of its spread). Short sums keep their bits.
    func testLongSumsOverAnAxisStayAccurate() throws {
        var g = RandomGenerator(seed: 3)
        let values = (0..<50_000).map { _ in -73.98 + 0.03 * g.nextNormal() }
        let reference = values.reduce(0.0) { $0 + Double($1) } / 50_000
        let column = try Tensor(shape: [50_000, 1], scalars: values)
        let row = try Tensor(shape: [1, 50_000], scalars: values)
        for (tensor, axis) in [(column, 0), (row, 1)] {
            let mean = try XCTUnwrap(tensor.mean(axes: [axis]).scalars.first)
            XCTAssertEqual(Double(mean), reference, accuracy: 2e-5, "axis \(axis)")
        }
        let short = try Tensor(shape: [3, 2], scalars: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
        XCTAssertEqual(try short.sum(axes: [0]).scalars, [0.1 + 0.3 + 0.5, 0.2 + 0.4 + 0.6] as [Float])
    }

    func testBackwardNeedsALossOrASeed() {
        let x = Variable(.ones([3]), requiresGrad: true)
        assertError(try (x * x).backward(), "backward: needs a one-element value (a loss) or an explicit seed, got shape [3]")
        assertError(try Variable(a).sum().backward(), "backward: this value does not depend on anything that requires a gradient")
    }

    func testNoGradModeBuildsNoGraph() throws {
        let w = Variable(.ones([2, 2]), requiresGrad: true)
        let y = try GradMode.withoutGradients { try w.matmul(w).sum() }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        XCTAssertTrue(GradMode.isEnabled, "the mode is restored afterwards")
    }

    func testGradientsAccumulateAcrossBackwardCalls() throws {
        let x = Variable(Tensor([1, 2, 3]), requiresGrad: true)
        try (x * x).sum().backward()
        try (x * x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [4, 8, 12])
        // A value used twice in one graph gets both contributions.
        x.zeroGrad()
        try (x * x + x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [3, 5, 7])
    }

    /// Sizes from a user's numbers (padding, classes, a wide layer, a list naming one tensor many times)
    /// are checked against the memory budget before anything is allocated, and never overflow.
    func testSizesFromNumbersAreCheckedBeforeAllocating() {
        let image = Variable(.zeros([1, 1, 8, 8]))
        let kernel = Variable(.zeros([1, 1, 3, 3]))
        assertError(
            try Variable.conv2d(image, weight: kernel, bias: nil, padding: 1_000_000_000),
            "conv2d: a tensor of shape [1, 1, 2000000006, 2000000006] needs more bytes than memory can address")
        assertError(
            try Variable.conv2d(image, weight: kernel, bias: nil, padding: 50_000),
            "conv2d: a tensor of shape [1, 1, 100006, 100006] needs 37.3 GiB, more than the 4.0 GiB one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
        )
        assertError(
            try Variable.conv2d(image, weight: kernel, bias: nil, padding: Int.max / 2),
            "conv2d: padding 4611686018427387903 makes the padded input larger than memory can address")
        assertError(
            try image.avgPool2d(kernel: 2, stride: 1, padding: Int.max),
            "avg_pool2d: padding 9223372036854775807 must be at most half the kernel size 2")
        assertError(
            try image.maxPool2d(kernel: Int.max, stride: 1, padding: Int.max / 2),
            "max_pool2d: padding 4611686018427387903 makes the padded input larger than memory can address")
        assertError(
            try Tensor([0, 1]).oneHot(classes: 1 << 40),
            "one_hot: a tensor of shape [2, 1099511627776] needs 8.0 TiB, more than the 4.0 GiB one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
        )
        assertError(
            try Variable.linear(Variable(.zeros([100_000, 1])), weight: Variable(.zeros([100_000, 1])), bias: nil),
            "linear: a tensor of shape [100000, 100000] needs 37.3 GiB, more than the 4.0 GiB one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
        )
        let row = Tensor.zeros([1, 1 << 20])
        assertError(
            try Tensor.concat(Array(repeating: row, count: 1 << 11), axis: 0),
            "concat: a tensor of shape [2048, 1048576] needs 8.0 GiB, more than the 4.0 GiB one tensor may take (RETORT_MAX_TENSOR_BYTES sets it)"
        )
        assertError(
            try MemoryBudget.check("histogram", count: 1 << 40, bytesEach: 16, what: "a histogram of 1099511627776 bins"),
            "histogram: a histogram of 1099511627776 bins needs 16.0 TiB, more than the 4.0 GiB one buffer may take (RETORT_MAX_TENSOR_BYTES sets it)"
        )
        assertError(
            try MemoryBudget.check("png", count: MemoryBudget.product([1 << 40, 1 << 40]), bytesEach: 4, what: "a PNG"),
            "png: a PNG needs more bytes than memory can address")
    }

    func testCopiesAreIndependentValues() {
        var t = Tensor([1, 2, 3])
        let copy = t
        t.withUnsafeMutableBufferPointer { $0[0] = 9 }
        XCTAssertEqual(copy.scalars, [1, 2, 3])
        XCTAssertEqual(t.scalars, [9, 2, 3])
    }

    func testSameSeedGivesBitIdenticalStreams() {
        var g1 = RandomGenerator(seed: 42)
        var g2 = RandomGenerator(seed: 42)
        XCTAssertEqual(g1.normal([100]).scalars, g2.normal([100]).scalars)
        XCTAssertEqual(g1.permutation(50), g2.permutation(50))
        var g3 = RandomGenerator(seed: 43)
        XCTAssertNotEqual(g1.uniform([10]).scalars, g3.uniform([10]).scalars)
    }

    func testDeepGraphsDoNotOverflowTheStack() throws {
        let x = Variable(Tensor(1), requiresGrad: true)
        var y = x
        for _ in 0..<100_000 { y = y * 1.0 }
        try y.backward()
        XCTAssertEqual(x.grad?.scalar, 1)
    }
}

final class GraphLifetimeTests: XCTestCase {
    func testASecondBackwardThroughAFreedGraphIsAnError() throws {
        let w = Variable(Tensor([1, 2]), requiresGrad: true)
        let loss = try (w * w).sum()
        try loss.backward()
        XCTAssertThrowsError(try loss.backward()) { error in
            XCTAssertEqual(
                "\(error)",
                "backward: this graph was already used by a backward pass; compute the loss again (or pass retain_graph)")
        }
        let kept = try (w * w).sum()
        w.zeroGrad()
        try kept.backward(retainGraph: true)
        try kept.backward()
        XCTAssertEqual(w.grad?.scalars, [4, 8])
    }
}
