import Foundation
import RetortNN
import RetortTensor

extension Builtins {
    /// `n` of a 2-D point set, its [n, 2] tensor within the memory budget.
    static func pointCount(_ call: BuiltinCall) throws -> Int {
        let n = try call.int("n")
        try budget(call, [n, 2], at: "n")
        return n
    }

    /// Generating millions of points takes a while: let an interrupt stop it.
    static func pointInterrupt(_ call: BuiltinCall, _ i: Int) throws {
        if i & 0xFFFF == 0xFFFF { try call.interpreter.checkInterrupt(call.range, "in \(call.builtin.name)") }
    }

    static let dataBuiltins: [Builtin] = [
        Builtin(
            "digits", [], category: "data",
            summary:
                "The UCI optical digits built into Retort: 1,797 images of 8×8 pixels (0..16) as 64 inputs, labels 0..9 (Alpaydin & Kaynak, CC BY 4.0).",
            example: "let data = digits()"
        ) { _ in .dataset(try Dataset.digits()) },
        Builtin(
            "dataset",
            [
                .init("x", .tensor), .init("y", .tensor), .init("classes", .optional(.wholeNumber(min: 1)), Value.none),
                .init("name", .string, .string("data")),
            ], category: "data",
            summary: "A dataset from inputs (batch first) and class labels.",
            example: "dataset(randn([100, 2]), labels, classes: 2)"
        ) { call in
            let x = try call.tensor("x").value
            let y = try call.tensor("y").value
            let labels = y.scalars
            // Class indices (whole numbers below 2^24, which a Float holds exactly), or −1 for a
            // position that has no label (a sequence's end).
            guard labels.allSatisfy({ $0 >= -1 && $0 == $0.rounded() && $0 < 16_777_216 }) else {
                throw call.fail("y", "class labels: whole numbers from 0 to 16777215 (or -1 for none)")
            }
            let classes = try call.ifGiven("classes", call.int) ?? Int(labels.max() ?? 0) + 1
            guard labels.allSatisfy({ Int($0) < classes }) else {
                throw call.error("a label is not below classes = \(classes)", at: "y")
            }
            do {
                return .dataset(try Dataset(x: x, y: y, classes: classes, name: try call.string("name")))
            } catch {
                throw call.interpreter.wrap(error, at: call.range)
            }
        },
        Builtin(
            "split",
            [
                .init("data", .oneOf([.dataset, .corpus])),
                .init("fraction", .number(.between(0, 1, includingLow: false, includingHigh: false))),
                .init("seed", .wholeNumber(), .number(0)),
            ], category: "data",
            summary: "A shuffled split of a dataset or corpus into (first part with `fraction` of the examples, the rest).",
            example: "let (train, test) = split(digits(), 0.8, seed: 7)"
        ) { call in
            let (fraction, seed) = (try call.number("fraction"), UInt64(truncatingIfNeeded: try call.int("seed")))
            if case .corpus(let corpus) = call.value("data") {
                let (a, b) = try corpus.split(fraction, seed: seed)
                return .tuple([.corpus(a), .corpus(b)])
            }
            let (a, b) = try call.dataset("data").split(fraction, seed: seed)
            return .tuple([.dataset(a), .dataset(b)])
        },
        Builtin(
            "shuffle", [.init("data", .oneOf([.dataset, .corpus])), .init("seed", .optional(.wholeNumber()), Value.none)],
            category: "data",
            summary: "The examples (or a corpus's lines) in a random order (seeded, or from the session's generator).",
            example: "shuffle(train, seed: 1)"
        ) { call in
            var g =
                try call.ifGiven("seed", call.int).map { RandomGenerator(seed: UInt64(truncatingIfNeeded: $0)) }
                ?? call.interpreter.generator
            defer { if !call.isGiven("seed") { call.interpreter.generator = g } }
            if case .corpus(let corpus) = call.value("data") { return .corpus(corpus.subset(g.permutation(corpus.count))) }
            let data = try call.dataset("data")
            return .dataset(data.subset(g.permutation(data.count)))
        },
        Builtin(
            "take",
            [
                .init("data", .oneOf([.dataset, .corpus])), .init("count", .wholeNumber(min: 0)),
                .init("seed", .optional(.wholeNumber()), Value.none),
            ], category: "data",
            summary:
                "The first `count` examples (or a corpus's lines), or `count` random ones with a seed (a labelled subset, say); all of them, in order or shuffled, when there are fewer than `count` (as Python's slicing).",
            example: "take(train, 144, seed: 3)"
        ) { call in
            let total: Int
            if case .corpus(let corpus) = call.value("data") {
                total = corpus.count
            } else {
                total = try call.dataset("data").count
            }
            let n = Swift.min(try call.int("count"), total)
            var picked = Array(0..<n)
            if let seed = try call.ifGiven("seed", call.int) {
                var g = RandomGenerator(seed: UInt64(truncatingIfNeeded: seed))
                picked = Array(g.permutation(total).prefix(n))
            }
            if case .corpus(let corpus) = call.value("data") { return .corpus(corpus.subset(picked)) }
            return .dataset(try call.dataset("data").subset(picked))
        },
        Builtin(
            "subset", [.init("data", .dataset), .init("keep", .tensor)], category: "data",
            summary:
                "The examples where `keep` (one number per example, as a comparison gives) is not 0, in their order: subset(train, train.y != 3) leaves the 3s out.",
            example: "let without_threes = subset(train, train.y != 3)"
        ) { call in
            let data = try call.dataset("data")
            let keep = try call.tensor("keep").value
            guard keep.count == data.count, keep.rank <= 1 else {
                throw call.error(
                    "keep has shape \(formatShape(keep.shape)), but \(data.name) has \(data.count) examples: give one number per example",
                    at: "keep")
            }
            let flags = keep.scalars
            return .dataset(data.subset(flags.indices.filter { flags[$0] != 0 }))
        },
        Builtin(
            "batches",
            [.init("data", .dataset), .init("size", .wholeNumber(min: 1)), .init("shuffle", .bool, .bool(false))],
            category: "data",
            summary: "The dataset as a list of mini-batches {x, y}, shuffled with the session's generator if asked.",
            example: "for b in batches(train, 64, shuffle: true) { print(b.x.shape) }"
        ) { call in
            let data = try call.dataset("data")
            let size = try call.int("size")
            var g: RandomGenerator? = try call.bool("shuffle") ? call.interpreter.generator : nil
            let parts = data.batches(size, generator: &g)
            if let g { call.interpreter.generator = g }
            return .list(parts.map { .record(Record([("x", .tensor(Variable($0.x))), ("y", .tensor(Variable($0.y)))])) })
        },
        Builtin(
            "standardize", [.init("data", .dataset), .init("like", .optional(.dataset), Value.none)], category: "data",
            summary:
                "Inputs shifted to mean 0 and scaled to deviation 1 per feature, using `like`'s statistics if given; a feature whose deviation is 0 or within float32's rounding of its mean (10 ulps × |mean|) is only centred.",
            example: "let test = standardize(test, like: train)"
        ) { call in
            let data = try call.dataset("data")
            let reference = try call.ifGiven("like", call.dataset) ?? data
            // Another dataset's statistics fit only examples of its shape (sklearn's transform
            // refuses another feature count); broadcasting them gave [2, 4] from a [2, 1].
            let (mine, theirs) = (Array(data.x.shape.dropFirst()), Array(reference.x.shape.dropFirst()))
            guard mine == theirs else {
                throw call.error(
                    "`like`'s examples are \(formatShape(theirs)) and `data`'s \(formatShape(mine)): its statistics are one per feature of examples shaped as its own",
                    at: "like")
            }
            let (mean, std) = try reference.featureStatistics()
            return .dataset(try data.standardized(mean: mean, std: std))
        },
        Builtin(
            "spirals",
            [
                .init("n", .wholeNumber(min: 1), .number(400)), .init("classes", .wholeNumber(min: 1), .number(2)),
                .init("noise", .number(), .number(0.1)), .init("seed", .wholeNumber(), .number(0)),
            ],
            category: "data", summary: "Interleaved 2-D spirals, one arm per class.", example: "spirals(n: 300, classes: 3)"
        ) { call in
            let (n, k) = (try pointCount(call), try call.int("classes"))
            let noise = try call.float("noise")
            var g = RandomGenerator(seed: UInt64(truncatingIfNeeded: try call.int("seed")))
            var xs: [Float] = []
            var ys: [Float] = []
            for i in 0..<n {
                try pointInterrupt(call, i)
                let c = i % k
                let r = Float(i / k) / Float(Swift.max(n / k, 1))
                let angle = Float(c) * 2 * .pi / Float(k) + r * 4 + noise * g.nextNormal()
                xs += [r * cosf(angle), r * sinf(angle)]
                ys.append(Float(c))
            }
            return .dataset(try Dataset(x: Tensor(shape: [n, 2], scalars: xs), y: Tensor(ys), classes: k, name: "spirals"))
        },
        Builtin(
            "moons",
            [
                .init("n", .wholeNumber(min: 1), .number(400)), .init("noise", .number(), .number(0.1)),
                .init("seed", .wholeNumber(), .number(0)),
            ], category: "data",
            summary: "Two interleaving half-circles in 2-D.", example: "moons(n: 200, noise: 0.2)"
        ) { call in
            let n = try pointCount(call)
            let noise = try call.float("noise")
            var g = RandomGenerator(seed: UInt64(truncatingIfNeeded: try call.int("seed")))
            var xs: [Float] = []
            var ys: [Float] = []
            for i in 0..<n {
                try pointInterrupt(call, i)
                let c = i % 2
                // Each half-circle spans 0 to π over its own points (an odd n gives the first one
                // more, as sklearn's make_moons); both once used n / 2, and the 201st point of
                // moons(n: 401) fell past the end of its arc.
                let points = (n + 1 - c) / 2
                let t = Float.pi * Float(i / 2) / Float(Swift.max(points - 1, 1))
                let (x, y) = c == 0 ? (cosf(t), sinf(t)) : (1 - cosf(t), 0.5 - sinf(t))
                xs += [x + noise * g.nextNormal(), y + noise * g.nextNormal()]
                ys.append(Float(c))
            }
            return .dataset(try Dataset(x: Tensor(shape: [n, 2], scalars: xs), y: Tensor(ys), classes: 2, name: "moons"))
        },
        Builtin(
            "blobs",
            [
                .init("n", .wholeNumber(min: 1), .number(400)), .init("classes", .wholeNumber(min: 1), .number(3)),
                .init("spread", .number(), .number(0.5)), .init("seed", .wholeNumber(), .number(0)),
            ],
            category: "data", summary: "Gaussian clusters in 2-D, one per class, centres on a circle.",
            example: "blobs(classes: 4)"
        ) { call in
            let (n, k) = (try pointCount(call), try call.int("classes"))
            let spread = try call.float("spread")
            var g = RandomGenerator(seed: UInt64(truncatingIfNeeded: try call.int("seed")))
            var xs: [Float] = []
            var ys: [Float] = []
            for i in 0..<n {
                try pointInterrupt(call, i)
                let c = i % k
                let angle = 2 * Float.pi * Float(c) / Float(k)
                xs += [2 * cosf(angle) + spread * g.nextNormal(), 2 * sinf(angle) + spread * g.nextNormal()]
                ys.append(Float(c))
            }
            return .dataset(try Dataset(x: Tensor(shape: [n, 2], scalars: xs), y: Tensor(ys), classes: k, name: "blobs"))
        },
    ]
}
