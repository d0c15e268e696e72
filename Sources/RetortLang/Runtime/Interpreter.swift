import Foundation
import RetortNN
import RetortTensor
import Synchronization

/// A flag another thread (a signal handler, the kernel's control channel) sets to stop long work;
/// loops and training check it between iterations and batches.
public final class InterruptFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func request() { flag.store(true, ordering: .relaxed) }
    public func clear() { flag.store(false, ordering: .relaxed) }
    public var isRequested: Bool { flag.load(ordering: .relaxed) }
}

/// Non-local exits inside function bodies and loops.
enum Jump: Error {
    case breakLoop(SourceRange)
    case continueLoop(SourceRange)
    case returnValue(Value, SourceRange)
}

/// Evaluates programs in a persistent global scope. Builtins and the prelude live in scopes
/// beneath the user's, so `reset` clears the user's bindings and keeps them.
public final class Interpreter: RandomSource {
    let builtinScope = Environment()
    let preludeScope: Environment
    private(set) var globals: Environment
    public let sink: OutputSink
    public let interrupt = InterruptFlag()
    public var generator: RandomGenerator
    var source = Source(name: "", text: "")
    /// The source of the code running now: a cell, a file, or the prelude (inside its losses).
    var currentSourceName = ""
    /// The user-function calls under way, outermost first, for tracebacks.
    var frames: [Diagnostic.TraceFrame] = []
    var callDepth = 0
    /// Sources seen so far by name, so diagnostics from a function defined in an earlier cell
    /// can still show its line.
    var sources = SourceStore()
    /// The batch a `fit` or `distill` loss is computing, while it runs: its recorded forward
    /// passes and logged terms. Nil outside a training call.
    var trainingContext: TrainingContext?
    /// The history a stopped `fit` or `distill` put in `last_history`, so a later run that stops
    /// before finishing an epoch removes that binding, and only that one (not a user's own).
    var stoppedRunHistory: History?
    /// The tensors `backward()` gave gradients to, which the next `step` updates with the loss's
    /// own (as PyTorch's `opt.step()` updates every parameter holding a gradient) and clears.
    /// Held weakly, and only while they hold a gradient: a loop of backward() on fresh tensors
    /// kept every one of them alive.
    private var gradientHolders: [WeakVariable] = []

    struct WeakVariable { weak var variable: Variable? }

    /// The tensors an earlier `backward()` left a gradient on that are still alive and hold it.
    var gradientsLeft: [Variable] { gradientHolders.compactMap { $0.variable }.filter { $0.grad != nil } }

    /// Notes the tensors a `backward()` gave gradients to (once each), dropping those gone or cleared.
    func noteGradients(on leaves: [Variable]) {
        var held = gradientsLeft
        var seen = Set(held.map(ObjectIdentifier.init))
        for leaf in leaves where seen.insert(ObjectIdentifier(leaf)).inserted { held.append(leaf) }
        gradientHolders = held.map { WeakVariable(variable: $0) }
    }

    public init(sink: OutputSink, seed: UInt64 = 0) {
        self.sink = sink
        generator = RandomGenerator(seed: seed)
        PrintOptions.precision = PrintOptions.defaultPrecision
        // Long tensor kernels poll this session's interrupt (one session per process at a time).
        Cancellation.isRequested = { [interrupt] in interrupt.isRequested }
        preludeScope = Environment(parent: builtinScope)
        globals = Environment(parent: preludeScope)
        for builtin in Builtins.all { builtinScope.define(builtin.name, .function(.builtin(builtin))) }
        loadPrelude()
    }

    /// Removes every user binding; builtins and the prelude stay.
    public func reset() {
        globals = Environment(parent: preludeScope)
    }

    /// The user's bindings, sorted by name.
    public var userBindings: [(name: String, value: Value)] {
        globals.values.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Every name a program can use here, for completion and suggestions.
    public var knownNames: [String] { Array(Set(globals.allNames)).sorted() }

    public func lookup(_ name: String) -> Value? { globals.lookup(name) }

    func loadPrelude() {
        let prelude = Source(name: "<prelude>", text: Prelude.text)
        sources[prelude.name] = prelude
        var parser = Parser(prelude)
        let program = parser.parseProgram()
        precondition(parser.diagnostics.isEmpty, "the prelude must parse: \(parser.diagnostics)")
        source = prelude
        currentSourceName = prelude.name
        for statement in program.statements {
            // The prelude is part of Retort: an error in it is a bug, not a user's mistake.
            do { _ = try execute(statement, preludeScope) } catch { preconditionFailure("prelude failed: \(error)") }
        }
    }

    /// Runs a parsed program in the global scope and returns the value of its final expression
    /// statement, if it ends with one. Earlier bindings survive any error.
    public func run(_ program: Program) throws -> Value? {
        source = program.source
        currentSourceName = program.source.name
        frames.removeAll()
        sources[program.source.name] = program.source
        var last: Value?
        for (i, statement) in program.statements.enumerated() {
            // An interrupt that came while the cell was parsed, or during the statement before, stops here.
            try checkInterrupt(statement.range, "before this statement")
            do {
                let value = try execute(statement, globals)
                last = i == program.statements.count - 1 ? value : nil
            } catch let jump as Jump {
                switch jump {
                case .breakLoop(let r), .continueLoop(let r):
                    throw diagnostic(.syntax, "'break' and 'continue' belong inside a loop", at: r)
                case .returnValue(_, let r):
                    throw diagnostic(.syntax, "'return' belongs inside a function", at: r)
                }
            }
        }
        return last
    }

    // MARK: Errors

    func diagnostic(_ kind: Diagnostic.Kind, _ message: String, at range: SourceRange?, notes: [String] = []) -> Diagnostic {
        Diagnostic(kind, message, at: range, notes: notes, source: currentSourceName, trace: frames.reversed())
    }

    /// Turns an error from the tensor core or a builtin into a diagnostic at `range`.
    func wrap(_ error: Error, at range: SourceRange) -> Error {
        switch error {
        case is Diagnostic, is Jump: return error
        case let e as Cancellation.Stopped:
            interrupt.clear()
            return diagnostic(.interrupted, "interrupted: \(e.description)", at: range)
        case let e as TensorError:
            return diagnostic(Diagnostic.Kind(e.kind), e.description, at: range)
        default:
            return diagnostic(.runtime, "\(error)", at: range)
        }
    }

    /// The most items a range may have when made into a list (each item is a value in memory).
    static let maximumListedRange = 50_000_000

    func checkInterrupt(_ range: SourceRange, _ where_: @autoclosure () -> String) throws {
        if interrupt.isRequested {
            interrupt.clear()
            throw diagnostic(.interrupted, "interrupted \(where_())", at: range)
        }
    }

    // MARK: Statements

    /// Executes a statement; returns the value of an expression statement, else nil.
    func execute(_ statement: Stmt, _ env: Environment) throws -> Value? {
        switch statement {
        case .expression(let e):
            return try evaluate(e, env)
        case .let(let pattern, let e, _):
            let value = try evaluate(e, env)
            try bind(pattern, to: value, in: env, range: e.range)
            if case .model(let m) = value, case .name(let n, _) = pattern, let earlier = m.name, earlier != n,
                !n.hasPrefix("_"), case .call(.name("prune", _), _, _) = e, case .function(.builtin)? = env.lookup("prune")
            {
                // prune changes the model it is given, unlike quantize and qat: a new name would
                // suggest a new model while both names now hold the one pruned model.
                sink.writeError(
                    "note: prune changed \(earlier) in place and returned it: \(n) and \(earlier) are the same pruned model (prune(clone(\(earlier)), ...) keeps the original)\n"
                )
            }
            if case .model(let m) = value, m.name == nil, case .name(let n, _) = pattern { m.name = n }
            if case .history(let h) = value, case .name(let n, _) = pattern, h.name.isEmpty { h.name = n }
            return nil
        case .assign(let target, let e, let range):
            if try appendInPlace(target, e, env) { return nil }
            let value = try evaluate(e, env)
            try assign(target, value, env, range)
            return nil
        case .function(let decl, _):
            sources.definedFunction(in: currentSourceName)
            env.define(decl.name ?? "<fn>", .function(.closure(Closure(decl, environment: env, sourceName: currentSourceName))))
            return nil
        case .for(let pattern, let sequenceExpr, let body, let range):
            let sequence = try evaluate(sequenceExpr, env)
            // A range is walked without building it: 1..3000000000 costs nothing until it runs.
            if case .range(let from, let to) = sequence {
                var i = from
                while i < to {
                    try checkInterrupt(range, "in a 'for' loop")
                    let scope = Environment(parent: env)
                    try bind(pattern, to: .number(Double(i)), in: scope, range: sequenceExpr.range)
                    guard try runIteration(body, scope) else { break }
                    i += 1
                }
                return nil
            }
            let items = try iterate(sequence, at: sequenceExpr.range)
            for item in items {
                try checkInterrupt(range, "in a 'for' loop")
                let scope = Environment(parent: env)
                try bind(pattern, to: item, in: scope, range: sequenceExpr.range)
                guard try runIteration(body, scope) else { break }
            }
            return nil
        case .while(let condition, let body, let range):
            while try truth(evaluate(condition, env), at: condition.range) {
                try checkInterrupt(range, "in a 'while' loop")
                guard try runIteration(body, Environment(parent: env)) else { break }
            }
            return nil
        case .return(let e, let range):
            throw Jump.returnValue(try e.map { try evaluate($0, env) } ?? .none, range)
        case .break(let range):
            throw Jump.breakLoop(range)
        case .continue(let range):
            throw Jump.continueLoop(range)
        }
    }

    /// Runs one loop iteration; false when the body said `break`. `continue` ends the iteration,
    /// `return` passes through to the enclosing function.
    func runIteration(_ body: Block, _ scope: Environment) throws -> Bool {
        do {
            _ = try run(body, scope)
        } catch Jump.breakLoop {
            return false
        } catch Jump.continueLoop {
            return true
        }
        return true
    }

    /// Runs a block's statements in `env`; its value is that of a final expression statement.
    func run(_ block: Block, _ env: Environment) throws -> Value {
        var last: Value = .none
        for (i, statement) in block.statements.enumerated() {
            let value = try execute(statement, env)
            last = i == block.statements.count - 1 ? (value ?? .none) : .none
        }
        return last
    }

    func bind(_ pattern: Pattern, to value: Value, in env: Environment, range: SourceRange) throws {
        switch pattern {
        case .name(let name, _):
            env.define(name, value)
        case .tuple(let parts, let patternRange):
            let items: [Value]
            switch value {
            case .tuple(let v), .list(let v): items = v
            default:
                throw diagnostic(.type, "cannot unpack a \(value.typeName) into \(parts.count) names", at: patternRange)
            }
            guard items.count == parts.count else {
                throw diagnostic(.type, "cannot unpack \(items.count) values into \(parts.count) names", at: patternRange)
            }
            for (part, item) in zip(parts, items) { try bind(part, to: item, in: env, range: range) }
        }
    }

    func assign(_ target: Expr, _ value: Value, _ env: Environment, _ range: SourceRange) throws {
        switch target {
        case .name(let name, let r):
            guard env.assign(name, value) else {
                throw diagnostic(.undefinedName, "'\(name)' is not defined; use 'let \(name) = ...' to create it", at: r)
            }
        case .member(let baseExpr, let field, let r):
            guard case .name(let baseName, _) = baseExpr, case .record(var record)? = env.lookup(baseName) else {
                throw diagnostic(
                    .type,
                    "only a field of a record bound to a name can be assigned (r.x = 1), not a field of a field: "
                        + "assign the inner record to a name, change it, and assign it back",
                    at: r)
            }
            record[field] = value
            _ = env.assign(baseName, .record(record))
        case .index:
            throw diagnostic(
                .type,
                "an item cannot be assigned: lists and tensors are values here, not changed in place; make a new one "
                    + "(append to a list; where(mask, new, x) for a tensor; a record's field by r.name = value)",
                at: target.range)
        default:
            throw diagnostic(.type, "cannot assign to this expression", at: target.range)
        }
    }

    /// `l = append(l, item)`, the way to build a list, run in place: `append` makes a new list, and
    /// copying the old one each time made a loop of n appends take n²/2 copies (20,000 items, 7.6 s).
    /// The same as the call in every outcome: false, having done nothing, unless `append` is the
    /// builtin, `l` a list and the call plain (the item is then evaluated once, here); if evaluating
    /// the item rebinds `l`, the old list is extended, as the call would extend it.
    func appendInPlace(_ target: Expr, _ value: Expr, _ env: Environment) throws -> Bool {
        guard case .name(let name, _) = target,
            case .call(.name("append", _), let arguments, let range) = value, arguments.count == 2,
            arguments[0].label == nil || arguments[0].label == "list", arguments[1].label == nil || arguments[1].label == "item",
            case .name(name, _) = arguments[0].value,
            case .function(.builtin(let builtin))? = env.lookup("append"), builtin.name == "append",
            case .list(var items)? = env.lookup(name)
        else { return false }
        try checkInterrupt(range, "in append")
        let item = try evaluate(arguments[1].value, env)
        _ = try checkNesting(.list([item]), at: range)
        let before = items.withUnsafeBufferPointer { $0.baseAddress }
        if case .list(let current)? = env.lookup(name), current.withUnsafeBufferPointer({ $0.baseAddress }) == before {
            // The name still holds this list: let go of it there, so the append below does not copy.
            _ = env.assign(name, .none)
        }
        items.append(item)
        _ = env.assign(name, .list(items))
        return true
    }

    func iterate(_ value: Value, at range: SourceRange) throws -> [Value] {
        switch value {
        case .range(let a, let b):
            guard b - a <= Interpreter.maximumListedRange else {
                throw diagnostic(
                    .runtime,
                    "the range \(a)..<\(b) has \(b - a) items, too many to hold as a list (at most \(Interpreter.maximumListedRange)); a for loop walks a range of any length",
                    at: range)
            }
            return a < b ? (a..<b).map { .number(Double($0)) } : []
        case .list(let items), .tuple(let items): return items
        case .tensor(let t):
            guard t.value.rank > 0 else { throw diagnostic(.type, "cannot loop over a scalar tensor", at: range) }
            // `for s in [1, 2, 3]` gives numbers: a literal list of numbers is a tensor.
            if t.value.rank == 1 && !t.requiresGrad {
                Tape.readOut(t, by: "a for loop over its values at line \(range.start.line), column \(range.start.column)")
                return t.value.scalars.map { .number(Double($0)) }
            }
            return try (0..<t.shape[0]).map { .tensor(try t.selecting(axis: 0, index: $0)) }
        case .string(let s): return s.map { .string(String($0)) }
        default:
            throw diagnostic(.type, "cannot loop over a \(value.typeName)", at: range)
        }
    }

    func truth(_ value: Value, at range: SourceRange) throws -> Bool {
        switch value {
        case .bool(let b): return b
        case .tensor(let t) where t.value.count == 1:
            Tape.readOut(t, by: "a condition at line \(range.start.line), column \(range.start.column)")
            return (t.value.scalar ?? 0) != 0
        default:
            throw diagnostic(.type, "a condition must be true or false, got a \(value.typeName)", at: range)
        }
    }
}
