import RetortNN
import RetortTensor

/// An evaluated argument at a call site.
public struct CallArgument {
    public var label: String?
    public var value: Value
    public var range: SourceRange
}

extension Interpreter {
    static let maximumCallDepth = 400

    /// Calls any callable value; `range` is the whole call, for errors.
    func call(
        _ callee: Value, _ args: [CallArgument], at range: SourceRange, calleeRange: SourceRange, calleeName: String? = nil
    ) throws -> Value {
        switch callee {
        case .function(.closure(let closure)):
            return try callClosure(closure, args, at: range)
        case .function(.builtin(let builtin)):
            let bound = try BuiltinCall(builtin, args, interpreter: self, range: range)
            do {
                return try builtin.body(bound)
            } catch {
                throw wrap(error, at: range)
            }
        case .model(let model):
            guard args.count == 1, args[0].label == nil else {
                throw diagnostic(.argument, "a model is called with one input tensor: \(model.name ?? "model")(x)", at: range)
            }
            let input = try tensorArgument(args[0].value, at: args[0].range, what: "the model's input")
            if let output = trainingContext?.recorded(model, on: input)?.last { return .tensor(output) }
            do {
                // A frame for the model, so an error inside one of its function layers shows this call too.
                frames.append(.init(function: model.name ?? "the model", range: range, sourceName: currentSourceName))
                defer { frames.removeLast() }
                return .tensor(try model.network.forward(input))
            } catch {
                throw wrap(error, at: range)
            }
        default:
            throw notCallable(callee, named: calleeName, at: calleeRange)
        }
    }

    /// "a number cannot be called", naming the binding when the callee was written as a name, and
    /// saying when that name hides a builtin or a prelude function (`let kd = 5`, then `kd(...)`).
    func notCallable(_ callee: Value, named text: String?, at range: SourceRange) -> Diagnostic {
        guard let text else { return diagnostic(.type, "a \(callee.typeName) cannot be called", at: range) }
        var notes: [String] = []
        if case .function? = preludeScope.lookup(text) {
            notes.append(
                "`\(text)` is also \(builtinScope.values[text] != nil ? "a builtin" : "a prelude function"); your binding hides it"
            )
        }
        return diagnostic(.type, "`\(text)` is a \(callee.typeName) here and cannot be called", at: range, notes: notes)
    }

    /// Calls a function value from a builtin (a loss inside `fit`), with positional arguments.
    func callFunction(_ function: Value, _ values: [Value], at range: SourceRange) throws -> Value {
        try call(function, values.map { CallArgument(label: nil, value: $0, range: range) }, at: range, calleeRange: range)
    }

    func callClosure(_ closure: Closure, _ args: [CallArgument], at range: SourceRange) throws -> Value {
        let decl = closure.declaration
        let params = decl.parameters
        let scope = Environment(parent: closure.environment)
        let signature = "\(decl.name ?? "fn")(\(params.map { $0.name }.joined(separator: ", ")))"
        var given: [String: Value] = [:]
        var positional = 0
        for arg in args {
            if let label = arg.label {
                guard params.contains(where: { $0.name == label }) else {
                    var notes = ["\(signature) takes: \(params.map(\.name).joined(separator: ", "))"]
                    // Only a parameter still open: `f(1, c: 3)` of fn f(a, b) is not a misspelt `a`, given already.
                    let open = params.map(\.name).filter { given[$0] == nil }
                    if let s = nearest(to: label, in: open) { notes.insert("did you mean '\(s)'?", at: 0) }
                    throw diagnostic(
                        .argument, "\(decl.name ?? "this function") has no parameter '\(label)'", at: arg.range, notes: notes)
                }
                guard given[label] == nil else {
                    throw diagnostic(.argument, "argument '\(label)' is given twice", at: arg.range)
                }
                given[label] = arg.value
            } else {
                guard positional < params.count else {
                    throw diagnostic(.argument, "\(signature) takes \(params.count) arguments, got \(args.count)", at: arg.range)
                }
                given[params[positional].name] = arg.value
                positional += 1
            }
        }
        // Every call checks for an interrupt, so deep or exponential recursion can be stopped.
        try checkInterrupt(range, "in a call to \(decl.name ?? "a function")")
        for param in params where given[param.name] == nil && param.defaultValue == nil {
            throw diagnostic(.argument, "missing argument '\(param.name)' in call to \(signature)", at: range)
        }
        frames.append(.init(function: decl.name ?? "fn", range: range, sourceName: currentSourceName))
        let callerSource = currentSourceName
        currentSourceName = closure.sourceName
        defer {
            currentSourceName = callerSource
            frames.removeLast()
        }
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= Interpreter.maximumCallDepth else {
            throw diagnostic(
                .runtime,
                "too many nested calls (over \(Interpreter.maximumCallDepth), Retort's limit): a function calling itself "
                    + "without end, or recursion deeper than the limit (write it as a loop)",
                at: range)
        }
        // The depth bound is in calls; the stack runs out by bytes, sooner in a debug build or on a
        // small thread: stop with an error while there is room, rather than crash the session.
        if let left = StackSpace.remaining(), left < StackSpace.reserve {
            throw diagnostic(
                .runtime,
                "too many nested calls (\(callDepth) deep, the stack nearly used up): a function calling itself without "
                    + "end, or recursion deeper than this thread's stack allows (write it as a loop)",
                at: range)
        }
        // After the depth checks: a default that calls the function (fn f(a = f())) recurses too.
        for param in params {
            if let value = given[param.name] {
                scope.define(param.name, value)
            } else if let defaultExpr = param.defaultValue {
                // Defaults are evaluated at each call, in the call's scope, so they can use earlier parameters.
                scope.define(param.name, try evaluate(defaultExpr, scope))
            }
        }
        do {
            return try run(decl.body, scope)
        } catch Jump.returnValue(let value, _) {
            return value
        }
    }

    /// A value as a tensor: tensors, numbers and numeric lists are accepted.
    func tensorArgument(_ value: Value, at range: SourceRange, what: String) throws -> Variable {
        switch value {
        case .tensor(let t): return t
        case .number(let n): return Variable.scalar(Float(n))
        case .list:
            if case .tensor(let t) = try listOrTensor(listItems(value), at: range) { return t }
        default: break
        }
        throw diagnostic(.type, "\(what) must be a tensor, got \(describeShort(value))", at: range)
    }

    func listItems(_ value: Value) -> [Value] {
        if case .list(let items) = value { return items }
        return [value]
    }
}
