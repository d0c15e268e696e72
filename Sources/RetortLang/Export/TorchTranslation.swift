import RetortExport
import RetortTensor

/// Retort functions as Python for PyTorch: a loss, the functions it calls and its schedules,
/// translated from their syntax (not from a trace), so `if`, `for`, `let`, default arguments and
/// functions of the training progress survive as written.
///
/// A closure's free names are read from the scope it was made in: numbers, strings and small
/// constant tensors are written in as literals (so `ramp(0.1, 0.9)`'s inner function becomes a
/// function of p alone), functions are translated in turn, and builtins go through the table in
/// TorchTranslation+Builtins.swift. Anything else (a model, a dataset, an op with no torch
/// counterpart) is refused with its place in the source.
final class TorchTranslation {
    /// Why something cannot be translated, where, and the chain of functions that led there.
    struct Refusal: Error {
        var message: String
        var range: SourceRange?
        var sourceName: String
        var trace: [Diagnostic.TraceFrame]
    }

    /// One Python `def` being written: its local names and the outer ones it assigns.
    final class FunctionContext {
        let parent: FunctionContext?
        var locals: Set<String> = []
        var nonlocals: Set<String> = []
        /// Names that hold Python ints (a `for` over a range), which index without conversion.
        var ints: Set<String> = []
        init(parent: FunctionContext?) { self.parent = parent }
    }

    /// A Retort scope: its names and the Python names they became.
    final class Scope {
        let parent: Scope?
        let function: FunctionContext
        var names: [String: String] = [:]
        init(parent: Scope?, function: FunctionContext) {
            self.parent = parent
            self.function = function
        }
    }

    /// Where names not bound in the translated code are looked up: the closure's scope.
    struct Origin {
        var environment: Environment
        var sourceName: String
    }

    let interpreter: Interpreter
    /// The top-level `def`s written so far, in order.
    private(set) var definitions: [String] = []
    /// Python names used at module level.
    private var moduleNames: Set<String> = []
    private var translated: [ObjectIdentifier: String] = [:]
    /// The builtin helpers the code uses (`rt_cross_entropy`, ...).
    var helpers: Set<String> = []
    /// Functions whose translation is under way, outermost first, for refusals' tracebacks.
    private var trace: [Diagnostic.TraceFrame] = []
    var origin: Origin
    var lines: [String] = []
    var indent = 0
    private var counter = 0

    init(interpreter: Interpreter, sourceName: String) {
        self.interpreter = interpreter
        origin = Origin(environment: interpreter.preludeScope, sourceName: sourceName)
        moduleNames = ["loss", "learning_rate", "math", "torch", "F", "DEVICE", "TERMS", "_UNSET"]
    }

    // MARK: - Refusals

    func refuse(_ message: String, at range: SourceRange?) -> Refusal {
        Refusal(message: message, range: range, sourceName: origin.sourceName, trace: trace.reversed())
    }

    // MARK: - Emitting

    func emit(_ line: String) { lines.append(String(repeating: "    ", count: indent) + line) }

    func fresh(_ base: String, in scope: Scope) -> String {
        counter += 1
        var name = "\(base)\(counter)"
        while scope.function.locals.contains(name) || moduleNames.contains(name) {
            counter += 1
            name = "\(base)\(counter)"
        }
        scope.function.locals.insert(name)
        return name
    }

    /// A module-level name for `base`, unique in the file.
    func moduleName(_ base: String) -> String {
        var name = Python.identifier(base)
        var n = 1
        while moduleNames.contains(name) {
            n += 1
            name = Python.identifier(base) + "_\(n)"
        }
        moduleNames.insert(name)
        return name
    }

    // MARK: - Closures

    /// The Python name of a translated closure, translating it (and what it calls) on first use.
    func function(_ closure: Closure, named suggestion: String? = nil, referencedAt range: SourceRange) throws -> String {
        if let known = translated[ObjectIdentifier(closure)] { return known }
        let decl = closure.declaration
        let name = moduleName(decl.name ?? suggestion ?? "function")
        translated[ObjectIdentifier(closure)] = name
        let saved = (lines, indent, origin)
        trace.append(.init(function: decl.name ?? suggestion ?? "fn", range: range, sourceName: origin.sourceName))
        defer {
            trace.removeLast()
            (lines, indent, origin) = saved
        }
        lines = []
        indent = 0
        origin = Origin(environment: closure.environment, sourceName: closure.sourceName)
        let context = FunctionContext(parent: nil)
        let scope = Scope(parent: nil, function: context)
        let firstLine = decl.sourceText.split(separator: "\n").first.map(String.init) ?? ""
        emit("# \(closure.sourceName == "<prelude>" ? "Retort's prelude" : closure.sourceName): \(firstLine)".trimmingTrailing)
        try functionBody(decl, name: name, scope: scope, context: context)
        definitions.append(lines.joined(separator: "\n"))
        return name
    }

    /// `def name(params):` and the body, the function's value returned.
    func functionBody(_ decl: FunctionDecl, name: String, scope: Scope, context: FunctionContext) throws {
        var parameters: [String] = []
        var late: [(python: String, value: Expr)] = []
        for p in decl.parameters {
            let python = Python.identifier(p.name)
            scope.names[p.name] = python
            context.locals.insert(python)
            if let d = p.defaultValue {
                if let literal = literalText(d) {
                    parameters.append("\(python)=\(literal)")
                } else {
                    // Defaults are evaluated at each call and may read earlier parameters.
                    parameters.append("\(python)=_UNSET")
                    late.append((python, d))
                }
            } else {
                parameters.append(python)
            }
        }
        emit("def \(name)(\(parameters.joined(separator: ", "))):")
        indent += 1
        let nonlocalLine = lines.count
        for (python, value) in late {
            emit("if \(python) is _UNSET:")
            indent += 1
            emit("\(python) = \(try expression(value, scope))")
            indent -= 1
        }
        if !late.isEmpty { helpers.insert("_UNSET") }
        try block(decl.body, scope, target: .returned)
        if !context.nonlocals.isEmpty {
            lines.insert(
                String(repeating: "    ", count: indent) + "nonlocal " + context.nonlocals.sorted().joined(separator: ", "),
                at: nonlocalLine)
        }
        indent -= 1
    }

    /// A default value's text when it is a literal Python can hold as a default.
    func literalText(_ e: Expr) -> String? {
        switch e {
        case .number(let n, _): return Python.number(n)
        case .string(let s, _): return Python.string(s)
        case .bool(let b, _): return b ? "True" : "False"
        case .none: return "None"
        case .unary(.negate, .number(let n, _), _): return Python.number(-n)
        default: return nil
        }
    }

    // MARK: - Blocks and statements

    /// Where a block's value goes.
    enum Target {
        case discard
        case returned
        case assign(String)
    }

    func block(_ b: Block, _ scope: Scope, target: Target) throws {
        let before = lines.count
        for (i, statement) in b.statements.enumerated() {
            let last = i == b.statements.count - 1
            if last, case .expression(let e) = statement {
                try value(e, scope, into: target)
            } else {
                try self.statement(statement, scope)
                if last { try value(nil, scope, into: target) }
            }
        }
        if b.statements.isEmpty { try value(nil, scope, into: target) }
        if lines.count == before { emit("pass") }
    }

    /// Sends an expression's value (nil: none) to `target`; an `if` or block in that place becomes
    /// Python statements with the target in each branch.
    func value(_ e: Expr?, _ scope: Scope, into target: Target) throws {
        guard let e else {
            switch target {
            case .discard: return
            case .returned: emit("return None")
            case .assign(let name): emit("\(name) = None")
            }
            return
        }
        switch e {
        case .conditional(let condition, let then, let otherwise, _):
            emit("if \(try expression(condition, scope)):")
            try branch(then, scope, target)
            if let otherwise {
                emit("else:")
                try branch(otherwise, scope, target)
            } else if case .discard = target {
            } else {
                emit("else:")
                indent += 1
                try value(nil, scope, into: target)
                indent -= 1
            }
        case .block(let b, _):
            try block(b, Scope(parent: scope, function: scope.function), target: target)
        default:
            let text = try expression(e, scope)
            switch target {
            case .discard:
                if case .call = e { emit(text) }
            case .returned: emit("return \(text)")
            case .assign(let name): emit("\(name) = \(text)")
            }
        }
    }

    /// An `if` branch: an indented block in a scope of its own, or `elif` for a chained `if`.
    private func branch(_ b: Block, _ scope: Scope, _ target: Target) throws {
        indent += 1
        try block(b, Scope(parent: scope, function: scope.function), target: target)
        indent -= 1
    }

    func statement(_ s: Stmt, _ scope: Scope) throws {
        switch s {
        case .expression(let e):
            try value(e, scope, into: .discard)
        case .let(let pattern, let e, _):
            let text = try expression(e, scope)
            emit("\(bind(pattern, scope)) = \(text)")
        case .assign(let target, let e, let range):
            let text = try expression(e, scope)
            switch target {
            case .name(let name, let r):
                guard let python = resolveLocal(name, scope, assigning: true) else {
                    throw refuse(
                        "the loss assigns to `\(name)`, which is bound outside it; a translated loss can change only its own names",
                        at: r)
                }
                emit("\(python) = \(text)")
            case .member(let base, let field, _):
                emit("\(try expression(base, scope))[\(Python.string(field))] = \(text)")
            default:
                throw refuse("cannot assign to this expression", at: range)
            }
        case .function(let decl, let range):
            let name = declare(decl.name ?? "fn", scope)
            try nested(decl, name: name, scope, at: range)
        case .for(let pattern, let sequence, let body, _):
            let inner = Scope(parent: scope, function: scope.function)
            let items = try iterable(sequence, scope)
            let target = bind(pattern, inner)
            if case .range = sequence { scope.function.ints.insert(target) }
            emit("for \(target) in \(items):")
            indent += 1
            try block(body, inner, target: .discard)
            indent -= 1
        case .while(let condition, let body, _):
            emit("while \(try expression(condition, scope)):")
            indent += 1
            try block(body, Scope(parent: scope, function: scope.function), target: .discard)
            indent -= 1
        case .return(let e, _):
            emit("return \(try e.map { try expression($0, scope) } ?? "None")")
        case .break:
            emit("break")
        case .continue:
            emit("continue")
        }
    }

    /// A nested `def` for a function written inside the loss; it reads the names around it.
    func nested(_ decl: FunctionDecl, name: String, _ scope: Scope, at range: SourceRange) throws {
        let context = FunctionContext(parent: scope.function)
        try functionBody(decl, name: name, scope: Scope(parent: scope, function: context), context: context)
    }

    /// What a `for` walks: a range as Python's, anything else as it is.
    func iterable(_ e: Expr, _ scope: Scope) throws -> String {
        try expression(e, scope)
    }

    // MARK: - Names

    /// Binds a pattern's names in `scope`; the Python target text.
    func bind(_ pattern: Pattern, _ scope: Scope) -> String {
        switch pattern {
        case .name(let name, _): return declare(name, scope)
        case .tuple(let parts, _): return "(" + parts.map { bind($0, scope) }.joined(separator: ", ") + ",)"
        }
    }

    /// The Python name for a new Retort binding: its own name, unless that would hide a binding
    /// still visible here (Python functions have one scope, Retort blocks each have theirs).
    func declare(_ name: String, _ scope: Scope) -> String {
        if let existing = scope.names[name] { return existing }
        var python = Python.identifier(name)
        if resolveLocal(name, scope, assigning: false) != nil || scope.function.locals.contains(python)
            || moduleNames.contains(python)
        {
            python = fresh(python + "_", in: scope)
        }
        scope.names[name] = python
        scope.function.locals.insert(python)
        return python
    }

    /// The Python name of a Retort name bound in the translated code, nil when it is bound
    /// outside (in the closure's scope). Assigning to an enclosing function's name declares it nonlocal.
    func resolveLocal(_ name: String, _ scope: Scope, assigning: Bool) -> String? {
        var s: Scope? = scope
        while let current = s {
            if let python = current.names[name] {
                if assigning && current.function !== scope.function {
                    var f: FunctionContext? = scope.function
                    while let context = f, context !== current.function {
                        context.nonlocals.insert(python)
                        f = context.parent
                    }
                }
                return python
            }
            s = current.parent
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingTrailing: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
