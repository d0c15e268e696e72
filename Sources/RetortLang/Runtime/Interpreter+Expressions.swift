import Foundation
import RetortNN
import RetortTensor

extension Interpreter {
    func evaluate(_ expr: Expr, _ env: Environment) throws -> Value {
        switch expr {
        case .number(let n, _): return .number(n)
        case .string(let s, _): return .string(s)
        case .bool(let b, _): return .bool(b)
        case .none: return .none
        case .name(let name, let range):
            guard let value = env.lookup(name) else { throw undefined(name, at: range, env) }
            return value
        case .list(let items, _):
            let values = try items.map { try evaluate($0, env) }
            return try checkNesting(try listOrTensor(values, at: expr.range), at: expr.range)
        case .tuple(let items, _):
            return try checkNesting(.tuple(try items.map { try evaluate($0, env) }), at: expr.range)
        case .record(let fields, _):
            return try checkNesting(.record(Record(try fields.map { ($0.name, try evaluate($0.value, env)) })), at: expr.range)
        case .unary(let op, let operand, let range):
            let value = try evaluate(operand, env)
            switch op {
            case .negate:
                switch value {
                case .number(let n): return .number(-n)
                case .tensor(let t): return .tensor(-t)
                default: throw diagnostic(.type, "cannot negate a \(value.typeName)", at: range)
                }
            case .not:
                return .bool(!(try truth(value, at: operand.range)))
            }
        case .binary(let op, let left, let right, let range):
            return try binary(op, left, right, range, env)
        case .call(let calleeExpr, let arguments, let range):
            if case .name("no_grad", _) = calleeExpr, case .function(.builtin(let b))? = env.lookup("no_grad"),
                b.name == "no_grad"
            {
                guard arguments.count == 1, arguments[0].label == nil else {
                    throw diagnostic(.argument, "no_grad takes one expression: no_grad(teacher(x))", at: range)
                }
                // Evaluated with gradients off: the graph is never built, so no activations are kept.
                let value = try GradMode.withoutGradients { try evaluate(arguments[0].value, env) }
                if case .tensor(let t) = value { return .tensor(t.detached()) }
                return value
            }
            let callee = try evaluate(calleeExpr, env)
            let args = try arguments.map { CallArgument(label: $0.label, value: try evaluate($0.value, env), range: $0.range) }
            var name: String?
            if case .name(let n, _) = calleeExpr { name = n }
            return try call(callee, args, at: range, calleeRange: calleeExpr.range, calleeName: name)
        case .index(let baseExpr, let subscripts, let range):
            let base = try evaluate(baseExpr, env)
            return try index(base, subscripts, env, range)
        case .member(let baseExpr, let name, let range):
            return try member(try evaluate(baseExpr, env), name, range)
        case .range(let fromExpr, let toExpr, let inclusive, _):
            let from = try wholeNumber(evaluate(fromExpr, env), at: fromExpr.range, what: "a range's start")
            let to = try wholeNumber(evaluate(toExpr, env), at: toExpr.range, what: "a range's end")
            return .range(from, inclusive ? to + 1 : to)
        case .conditional(let condition, let then, let otherwise, _):
            if try truth(evaluate(condition, env), at: condition.range) {
                return try run(then, Environment(parent: env))
            }
            return try otherwise.map { try run($0, Environment(parent: env)) } ?? .none
        case .function(let decl, _):
            sources.definedFunction(in: currentSourceName)
            return .function(.closure(Closure(decl, environment: env, sourceName: currentSourceName)))
        case .block(let block, _):
            return try run(block, Environment(parent: env))
        }
    }

    func undefined(_ name: String, at range: SourceRange, _ env: Environment) -> Diagnostic {
        var notes: [String] = []
        if let suggestion = nearest(to: name, in: env.allNames) { notes.append("did you mean '\(suggestion)'?") }
        return diagnostic(.undefinedName, "'\(name)' is not defined", at: range, notes: notes)
    }

    /// The known name closest to `name` by edit distance, if it is close enough to be a typo.
    func nearest(to name: String, in names: [String]) -> String? {
        let scored = Set(names).map { ($0, editDistance(name.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }) else { return nil }
        return best.1 <= Swift.max(1, name.count / 3) ? best.0 : nil
    }

    /// A bracketed literal: a tensor when all elements are numbers (or equal-shaped nested
    /// numeric lists), a list otherwise.
    func listOrTensor(_ values: [Value], at range: SourceRange) throws -> Value {
        guard !values.isEmpty else { return .list([]) }
        // No tensor has more than a few dozen axes: deeper nesting is a list of lists, and stopping
        // there keeps wrapping a list in a loop (`l = [l]`) from walking the whole chain each time.
        func numericShape(_ v: Value, depth: Int = 0) -> [Int]? {
            guard depth < 64 else { return nil }
            switch v {
            case .number: return []
            case .list(let items):
                guard let first = items.first.flatMap({ numericShape($0, depth: depth + 1) }) else { return nil }
                for item in items.dropFirst() where numericShape(item, depth: depth + 1) != first { return nil }
                return [items.count] + first
            case .tensor(let t) where !t.requiresGrad: return t.shape
            default: return nil
            }
        }
        let shapes = values.map { numericShape($0) }
        let allNumeric = values.allSatisfy {
            if case .number = $0 { return true }; if case .tensor(let t) = $0, !t.requiresGrad { return true }; return false
        }
        guard allNumeric, let first = shapes[0], shapes.allSatisfy({ $0 == first }) else {
            // Tensors of different shapes make a list (concat([a, b], axis: 1)); numbers written
            // out in ragged rows are a mistake in a literal.
            let holdsTensors = values.contains {
                if case .tensor = $0 { return true }; return false
            }
            if allNumeric && !holdsTensors {
                throw diagnostic(.shape, "the rows of this tensor literal have different shapes", at: range)
            }
            return .list(values)
        }
        // Checked before anything is copied (`[t, t, t, ...]` of one large tensor asks for many times its
        // size), then each element is copied once, straight into the new tensor.
        let shape = [values.count] + first, size = MemoryBudget.product(first)
        do { try MemoryBudget.check("tensor", shape) } catch { throw wrap(error, at: range) }
        // Tensors (computed ones too, in no_grad or while export traces a model) are stacked as an
        // op, so a traced graph reads them where they were made: copied into a new constant, a
        // list like [l1(x), l2(x)] was a constant of the example batch in an exported model.
        if values.contains(where: { if case .tensor = $0 { return true } else { return false } }) {
            let parts = values.map { value -> Variable in
                switch value {
                case .tensor(let t): return t
                case .number(let n): return Variable(Tensor(Float(n)))
                default: return Variable(Tensor(0))
                }
            }
            do { return .tensor(try Variable.stack(parts, axis: 0)) } catch { throw wrap(error, at: range) }
        }
        return .tensor(
            Variable(
                Tensor(shape: shape) { out in
                    for (i, v) in values.enumerated() {
                        if case .number(let n) = v { out[i] = Float(n) }
                        if case .tensor(let t) = v {
                            t.value.withUnsafeBufferPointer {
                                (out.baseAddress! + i * size).update(from: $0.baseAddress!, count: size)
                            }
                        }
                    }
                }))
    }

    func wholeNumber(_ value: Value, at range: SourceRange, what: String) throws -> Int {
        var number: Double?
        if case .number(let n) = value { number = n }
        // A one-element tensor's float32 can be far past Int's range (1e30): checked as the number is.
        if case .tensor(let t) = value, t.value.count == 1, let s = t.value.scalar { number = Double(s) }
        if let n = number, n.isWhole { return Int(n) }
        let tooLarge = number.map { $0.isFinite && $0 == $0.rounded() } ?? false
        throw diagnostic(
            .type,
            "\(what) must be a whole number\(tooLarge ? " below 10^15 in size" : ""), got \(describeShort(value))", at: range)
    }

    // MARK: Operators

    func binary(_ op: BinaryOp, _ leftExpr: Expr, _ rightExpr: Expr, _ range: SourceRange, _ env: Environment) throws -> Value {
        switch op {
        case .and:
            guard try truth(evaluate(leftExpr, env), at: leftExpr.range) else { return .bool(false) }
            return .bool(try truth(evaluate(rightExpr, env), at: rightExpr.range))
        case .or:
            if try truth(evaluate(leftExpr, env), at: leftExpr.range) { return .bool(true) }
            return .bool(try truth(evaluate(rightExpr, env), at: rightExpr.range))
        case .pipe:
            // `x |> f(a, k: b)` is `f(x, a, k: b)`; `x |> f` is `f(x)`.
            let input = CallArgument(label: nil, value: try evaluate(leftExpr, env), range: leftExpr.range)
            if case .call(let calleeExpr, let arguments, let callRange) = rightExpr {
                let callee = try evaluate(calleeExpr, env)
                let args = try arguments.map {
                    CallArgument(label: $0.label, value: try evaluate($0.value, env), range: $0.range)
                }
                return try call(callee, [input] + args, at: callRange, calleeRange: calleeExpr.range)
            }
            return try call(try evaluate(rightExpr, env), [input], at: range, calleeRange: rightExpr.range)
        default:
            let left = try evaluate(leftExpr, env)
            let right = try evaluate(rightExpr, env)
            return try arithmetic(op, left, right, range)
        }
    }

    func arithmetic(_ op: BinaryOp, _ left: Value, _ right: Value, _ range: SourceRange) throws -> Value {
        switch (left, right) {
        case (.number(let a), .number(let b)):
            switch op {
            case .add: return .number(a + b)
            case .subtract: return .number(a - b)
            case .multiply: return .number(a * b)
            case .divide: return .number(a / b)
            case .power: return .number(Foundation.pow(a, b))
            case .modulo:
                // Python's %, as PyTorch's on tensors (torch.remainder): the result takes the divisor's
                // sign, -7 % 3 is 2. (C's fmod, which it was, gives -1.)
                let r = a.truncatingRemainder(dividingBy: b)
                return .number(r != 0 && (r < 0) != (b < 0) ? r + b : r)
            case .equal: return .bool(a == b)
            case .notEqual: return .bool(a != b)
            case .less: return .bool(a < b)
            case .lessEqual: return .bool(a <= b)
            case .greater: return .bool(a > b)
            case .greaterEqual: return .bool(a >= b)
            case .matmul: throw diagnostic(.type, "'@' multiplies matrices; use '*' for numbers", at: range)
            default: break
            }
        case (.string(let a), .string(let b)):
            switch op {
            case .add:
                // Doubled in a loop, a string reaches any memory in a few dozen steps: it may hold what a file may.
                let bytes = a.utf8.count + b.utf8.count
                guard bytes <= FileReading.maximumBytes else {
                    throw diagnostic(
                        .runtime,
                        "'+' would make a string of \(bytes) bytes, more than the \(MemoryBudget.describeBytes(FileReading.maximumBytes)) a string may hold (RETORT_MAX_TENSOR_BYTES / 4)",
                        at: range)
                }
                return .string(a + b)
            case .equal: return .bool(a == b)
            case .notEqual: return .bool(a != b)
            default: break
            }
        case (.bool(let a), .bool(let b)) where op == .equal || op == .notEqual:
            return .bool((a == b) == (op == .equal))
        case (.none, .none) where op == .equal || op == .notEqual:
            return .bool(op == .equal)
        default:
            break
        }
        if case .tensor = left {
        } else if case .tensor = right {
        } else {
            // Lists, tuples, records compare by content (as Python's ==); models and the like by identity.
            if op == .equal || op == .notEqual { return .bool(left.isEqual(to: right) == (op == .equal)) }
            throw diagnostic(.type, "'\(op.rawValue)' cannot combine a \(left.typeName) and a \(right.typeName)", at: range)
        }
        if case .list = left, op == .add {
            throw diagnostic(.type, "'+' cannot add a tensor to a list; append(list, item) adds an item", at: range)
        }
        let a = try tensorOperand(left, range, op)
        let b = try tensorOperand(right, range, op)
        do {
            switch op {
            case .add: return .tensor(try a + b)
            case .subtract: return .tensor(try a - b)
            case .multiply: return .tensor(try a * b)
            case .divide: return .tensor(try a / b)
            case .power: return .tensor(try a.pow(b))
            case .matmul: return .tensor(try a.matmul(b))
            case .equal: return .tensor(try a.compare(b, .eq))
            case .notEqual: return .tensor(try a.compare(b, .ne))
            case .less: return .tensor(try a.compare(b, .lt))
            case .lessEqual: return .tensor(try a.compare(b, .le))
            case .greater: return .tensor(try a.compare(b, .gt))
            case .greaterEqual: return .tensor(try a.compare(b, .ge))
            case .modulo: return .tensor(try a.remainder(b))
            case .and, .or, .pipe: throw diagnostic(.type, "unexpected operator", at: range)
            }
        } catch {
            throw wrap(error, at: range)
        }
    }

    func tensorOperand(_ value: Value, _ range: SourceRange, _ op: BinaryOp) throws -> Variable {
        switch value {
        case .tensor(let t): return t
        case .number(let n): return Variable.scalar(Float(n))
        case .bool(let b): return Variable.scalar(b ? 1 : 0)
        default:
            throw diagnostic(.type, "'\(op.rawValue)' cannot combine a tensor with a \(value.typeName)", at: range)
        }
    }

    // MARK: Indexing and members

    func index(_ base: Value, _ subscripts: [Subscript], _ env: Environment, _ range: SourceRange) throws -> Value {
        switch base {
        case .list(let items), .tuple(let items):
            guard subscripts.count == 1 else { throw diagnostic(.type, "a \(base.typeName) takes one index", at: range) }
            switch subscripts[0] {
            case .index(let e):
                let i = try wholeNumber(evaluate(e, env), at: e.range, what: "an index")
                let resolved = i < 0 ? i + items.count : i
                guard items.indices.contains(resolved) else {
                    throw diagnostic(
                        .argument, "index \(i) is out of range for a \(base.typeName) of \(items.count) items", at: e.range)
                }
                return items[resolved]
            case .slice(let s, let e, let st, let r):
                let slice = try sliceRange(s, e, st, env, r)
                let (start, count) = (slice.start ?? 0, items.count)
                let lo = Swift.min(Swift.max(start < 0 ? start + count : start, 0), count)
                let end = slice.end.map { $0 < 0 ? $0 + count : $0 } ?? count
                let hi = Swift.min(Swift.max(end, lo), count)
                let picked = Array(stride(from: lo, to: hi, by: slice.step).map { items[$0] })
                if case .tuple = base { return .tuple(picked) }
                return .list(picked)
            }
        case .tensor(let t):
            do {
                var result = t
                var axis = 0
                var ranges: [SliceRange] = []
                var selections: [(axis: Int, index: Int)] = []
                for sub in subscripts {
                    switch sub {
                    case .index(let e):
                        let value = try evaluate(e, env)
                        // x[tensor([1])] acted as x[1] and dropped the axis, where PyTorch's index
                        // tensor keeps it ([1, 3]): only a number or a 0-d tensor is one index.
                        if case .tensor(let picked) = value, picked.value.rank > 0 {
                            throw diagnostic(
                                .type,
                                "a tensor of indices \(formatShape(picked.shape)) as an index: Retort indexes a tensor with whole "
                                    + "numbers and slices (x[1:2] keeps the axis); gather(x, axis, indices) picks several",
                                at: e.range)
                        }
                        let i = try wholeNumber(value, at: e.range, what: "an index")
                        ranges.append(SliceRange())
                        selections.append((axis, i))
                    case .slice(let s, let e, let st, let r):
                        ranges.append(try sliceRange(s, e, st, env, r))
                    }
                    axis += 1
                }
                guard subscripts.count <= t.value.rank else {
                    throw diagnostic(
                        .argument, "\(subscripts.count) indices given for a tensor of shape \(formatShape(t.shape))", at: range)
                }
                result = try result.sliced(ranges)
                for selection in selections.reversed() {
                    result = try result.selecting(axis: selection.axis, index: selection.index)
                }
                return .tensor(result)
            } catch {
                throw wrap(error, at: range)
            }
        case .record(let r):
            guard subscripts.count == 1, case .index(let e) = subscripts[0], case .string(let key) = try evaluate(e, env) else {
                throw diagnostic(.type, "a record is indexed by a field name: r[\"lr\"]", at: range)
            }
            guard let value = r[key] else {
                let names = r.fields.map(\.name)
                let notes =
                    nearest(to: key, in: names).map { ["did you mean '\($0)'?"] } ?? ["fields: \(names.joined(separator: ", "))"]
                throw diagnostic(.undefinedName, "the record has no field '\(key)'", at: range, notes: notes)
            }
            return value
        case .dataset(let d):
            guard subscripts.count == 1, case .slice(let s, let e, let st, let r) = subscripts[0] else {
                throw diagnostic(.type, "a dataset is sliced by examples: data[0:100]", at: range)
            }
            let slice = try sliceRange(s, e, st, env, r)
            let (first, n) = slice.resolve(size: d.count)
            return .dataset(d.subset(Array(stride(from: first, to: first + n * slice.step, by: slice.step))))
        case .model(let m):
            guard subscripts.count == 1, case .index(let e) = subscripts[0] else {
                throw diagnostic(.type, "a model is indexed by layer: model[0]", at: range)
            }
            let i = try wholeNumber(evaluate(e, env), at: e.range, what: "a layer index")
            let layers = m.network.layers
            let resolved = i < 0 ? i + layers.count : i
            guard layers.indices.contains(resolved) else {
                throw diagnostic(.argument, "layer \(i) is out of range: the model has \(layers.count) layers", at: e.range)
            }
            return .model(Model(Sequential([layers[resolved]]), name: "\(m.name ?? "model")[\(resolved)]"))
        default:
            throw diagnostic(.type, "a \(base.typeName) cannot be indexed", at: range)
        }
    }

    func sliceRange(_ s: Expr?, _ e: Expr?, _ st: Expr?, _ env: Environment, _ range: SourceRange) throws -> SliceRange {
        let start = try s.map { try wholeNumber(evaluate($0, env), at: $0.range, what: "a slice start") }
        let end = try e.map { try wholeNumber(evaluate($0, env), at: $0.range, what: "a slice end") }
        let step = try st.map { try wholeNumber(evaluate($0, env), at: $0.range, what: "a slice step") } ?? 1
        guard step > 0 else { throw diagnostic(.argument, "a slice step must be positive, got \(step)", at: range) }
        return SliceRange(start: start, end: end, step: step)
    }

    func member(_ base: Value, _ name: String, _ range: SourceRange) throws -> Value {
        // NumPy's .T reverses every axis, PyTorch's .mT swaps the last two: past rank 2 neither is assumed.
        if name == "T", case .tensor(let t) = base, t.value.rank > 2 {
            throw diagnostic(
                .shape, "`.T` of a rank-\(t.value.rank) tensor \(formatShape(t.shape)) is ambiguous",
                at: range,
                notes: [
                    "NumPy's .T reverses every axis, PyTorch's .mT swaps the last two: write permute(x, [...]) or "
                        + "transpose(x, -2, -1)"
                ])
        }
        if let value = Members.lookup(base, name) { return value }
        let names = Members.names(of: base)
        var notes: [String] = []
        if let suggestion = nearest(to: name, in: names) { notes.append("did you mean '\(suggestion)'?") }
        if !names.isEmpty && notes.isEmpty { notes.append("a \(base.typeName) has: \(names.joined(separator: ", "))") }
        throw diagnostic(.undefinedName, "a \(base.typeName) has no field '\(name)'", at: range, notes: notes)
    }
}

/// Levenshtein distance between two strings.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + [Int](repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
