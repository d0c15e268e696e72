/// The names a function reads from the scopes around it: every name used in its body that is not
/// one of its parameters and not bound inside it (by `let`, `for` or a nested `fn`).
///
/// A name bound anywhere inside the body counts as local throughout it; that is a little wider than
/// the language's scoping, and only means a model shadowed by a local is not taken as a member.
enum FreeNames {
    static func of(_ declaration: FunctionDecl) -> [String] {
        var collector = Collector()
        collector.bound.formUnion(declaration.parameters.map(\.name))
        for p in declaration.parameters { if let d = p.defaultValue { collector.visit(d) } }
        collector.visit(declaration.body)
        var seen = Set<String>()
        return collector.used.filter { !collector.bound.contains($0) && seen.insert($0).inserted }
    }

    /// The names a function assigns to (`calls = calls + 1`, `xs[0] = v`): state it keeps between
    /// calls, as opposed to settings it reads.
    static func written(by declaration: FunctionDecl) -> Set<String> {
        var collector = Collector()
        collector.visit(declaration.body)
        return collector.written
    }

    private struct Collector {
        var used: [String] = []
        var bound = Set<String>()
        var written = Set<String>()

        mutating func visit(_ block: Block) {
            for statement in block.statements { visit(statement) }
        }

        mutating func visit(_ statement: Stmt) {
            switch statement {
            case .expression(let e): visit(e)
            case .let(let pattern, let value, _):
                bound.formUnion(pattern.names)
                visit(value)
            case .assign(let target, let value, _):
                var base = target
                while case .index(let inner, _, _) = base { base = inner }
                if case .name(let name, _) = base { written.insert(name) }
                visit(target)
                visit(value)
            case .function(let decl, _):
                if let name = decl.name { bound.insert(name) }
                visitNested(decl)
            case .for(let pattern, let sequence, let body, _):
                bound.formUnion(pattern.names)
                visit(sequence)
                visit(body)
            case .while(let condition, let body, _):
                visit(condition)
                visit(body)
            case .return(let value, _):
                if let value { visit(value) }
            case .break, .continue:
                break
            }
        }

        /// A nested function's own parameters are local to it; what it reads from outside is ours.
        mutating func visitNested(_ decl: FunctionDecl) {
            for name in FreeNames.of(decl) { used.append(name) }
        }

        mutating func visit(_ expr: Expr) {
            switch expr {
            case .number, .string, .bool, .none: break
            case .name(let name, _): used.append(name)
            case .list(let items, _), .tuple(let items, _): items.forEach { visit($0) }
            case .record(let fields, _): fields.forEach { visit($0.value) }
            case .unary(_, let operand, _): visit(operand)
            case .binary(_, let left, let right, _):
                visit(left)
                visit(right)
            case .call(let callee, let arguments, _):
                visit(callee)
                arguments.forEach { visit($0.value) }
            case .index(let base, let subscripts, _):
                visit(base)
                for s in subscripts {
                    switch s {
                    case .index(let e): visit(e)
                    case .slice(let a, let b, let c, _): [a, b, c].compactMap { $0 }.forEach { visit($0) }
                    }
                }
            case .member(let base, _, _): visit(base)
            case .range(let from, let to, _, _):
                visit(from)
                visit(to)
            case .conditional(let condition, let then, let otherwise, _):
                visit(condition)
                visit(then)
                if let otherwise { visit(otherwise) }
            case .function(let decl, _): visitNested(decl)
            case .block(let block, _): visit(block)
            }
        }
    }
}
