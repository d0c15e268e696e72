import RetortNN
import RetortTensor

/// The fields reachable with `.name` on each kind of value (also what completion offers after a dot).
enum Members {
    static func names(of value: Value) -> [String] {
        switch value {
        case .record(let r): return r.fields.map(\.name)
        case .tensor: return ["shape", "rank", "count", "T", "grad", "requires_grad"]
        case .dataset: return ["x", "y", "count", "classes", "class_names", "features", "name"]
        case .history(let h): return ["epochs", "name", "stopped_at"] + h.series.map(\.name)
        case .model: return ["layers", "parameters", "buffers", "name", "count", "mode"]
        case .optimizer: return ["lr", "kind", "steps"]
        case .table: return ["columns", "rows"]
        case .graph: return ["columns", "rows", "ops", "parameters", "inputs", "outputs"]
        case .corpus: return ["count", "name", "lines", "longest"]
        case .vocab: return ["count", "symbols"]
        case .list, .tuple: return ["count"]
        case .string: return ["count"]
        default: return []
        }
    }

    static func lookup(_ value: Value, _ name: String) -> Value? {
        switch value {
        case .record(let r):
            return r[name]
        case .tensor(let t):
            switch name {
            case "shape": return .list(t.shape.map { .number(Double($0)) })
            case "rank": return .number(Double(t.value.rank))
            case "count": return .number(Double(t.value.count))
            case "T": return (try? t.transposed()).map { .tensor($0) }
            case "grad": return t.grad.map { .tensor(Variable($0)) } ?? Value.none
            case "requires_grad": return .bool(t.requiresGrad)
            default: return nil
            }
        case .dataset(let d):
            switch name {
            case "x": return .tensor(Variable(d.x))
            case "y": return .tensor(Variable(d.y))
            case "count": return .number(Double(d.count))
            case "classes": return .number(Double(d.classes))
            case "class_names": return d.classNames.map { .list($0.map { .string($0) }) } ?? Value.none
            case "features": return .number(Double(d.x.count / Swift.max(d.count, 1)))
            case "name": return .string(d.name)
            default: return nil
            }
        case .history(let h):
            switch name {
            case "epochs": return .list(h.epochs.map { .number(Double($0)) })
            case "name": return .string(h.name)
            case "stopped_at": return h.stoppedAt.map { .string($0) } ?? Value.none
            default: return h.values(name).map { .list($0.map { .number($0) }) }
            }
        case .model(let m):
            switch name {
            case "layers": return .list(m.network.layers.map { .model(Model(Sequential([$0]), name: $0.description)) })
            case "parameters":
                return .record(Record(m.network.namedParameters.map { ($0.name, .tensor($0.variable)) }))
            case "buffers":
                return .record(
                    Record(
                        m.network.namedBuffers.map { ($0.name, .tensor(Variable($0.tensor))) }
                            + m.network.namedCounts.map { ($0.name, .number(Double($0.count))) }))
            case "name": return m.name.map { .string($0) } ?? Value.none
            case "count": return .number(Double(Quantizer.parameterCount(m.network)))
            case "mode": return .string(m.modeText)
            default: return nil
            }
        case .optimizer(let o):
            switch name {
            case "lr":
                if let rate = o.lastRate ?? o.learningRate { return .number(rate) }
                return o.learningRateFunction ?? Value.none
            case "kind": return .string(o.kind.rawValue)
            case "steps": return .number(Double(o.steps))
            default: return nil
            }
        case .corpus(let c):
            switch name {
            case "count": return .number(Double(c.count))
            case "name": return .string(c.name)
            case "lines": return .list(c.lines.map { .string($0) })
            case "longest": return .number(Double(c.lines.map(\.count).max() ?? 0))
            default: return nil
            }
        case .vocab(let v):
            switch name {
            case "count": return .number(Double(v.count))
            case "symbols": return .list((0..<v.count).map { .string(v.symbol($0)) })
            default: return nil
            }
        case .graph(let g):
            let graph = g.graph
            switch name {
            case "ops": return .list(graph.topLevel.map { .string($0.op.name) })
            case "parameters": return .list(graph.parameters.map { .string($0.name) })
            case "inputs": return .list(graph.inputs.map { .list($0.shape.map { .number(Double($0)) }) })
            case "outputs": return .list(graph.outputs.map { .list(graph.shape(of: $0).map { .number(Double($0)) }) })
            default: return lookup(.table(g.table), name)
            }
        case .table(let t):
            switch name {
            case "columns": return .list(t.columns.map { .string($0) })
            case "rows": return .list(t.rows.map { .list($0.map { .string($0) }) })
            default: return nil
            }
        case .list(let items), .tuple(let items):
            return name == "count" ? .number(Double(items.count)) : nil
        case .string(let s):
            return name == "count" ? .number(Double(s.count)) : nil
        default:
            return nil
        }
    }
}
