import RetortGraph
import RetortTensor

/// Structured pruning: whole output channels of Linear and Conv2d layers are removed, with the
/// batch norm that normalises them and the matching inputs of every layer that reads them, so the
/// model is smaller in every sense: fewer parameters, smaller matrices, a smaller file, less time.
///
/// Which channels go together is read off the model's traced graph, so it works through function
/// layers: channels pass through activations, pooling, batch norm and flatten; a residual `add`
/// ties the channels on its two sides into one group, pruned with one kept set. A group whose
/// channels reach the model's output, meet an op that mixes them (softmax, layer norm, a matmul)
/// or a value of their full width that no layer owns, is left whole, with the reason.
public enum ChannelPruning {
    public struct Refusal: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Channels that must be pruned together: the outputs of `producers`, all of one width.
    public struct Group {
        public let producers: [(name: String, layer: ChannelPrunable)]
        public let channels: Int
        /// Why the group cannot be pruned, or nil when it can.
        public let lockedBecause: String?
        fileprivate let id: Int
    }

    /// What one pruning would change, from the traced graph.
    public struct Plan {
        public let groups: [Group]
        fileprivate let producerGroup: [ObjectIdentifier: Int]
        fileprivate let consumers: [(layer: ChannelPrunable, group: Int, factor: Int)]
        fileprivate let followers: [(layer: BatchNorm, group: Int)]

        public var prunable: [Group] { groups.filter { $0.lockedBecause == nil } }
    }

    /// What changed in one layer, for the sparsity table.
    public struct Change {
        public let name: String
        public let before: [Int]
        public let after: [Int]
    }

    /// How a value's channels run: which group they belong to, along which axis, each channel
    /// standing for `factor` consecutive entries (after a flatten).
    private struct Tag {
        var group: Int
        var axis: Int
        var factor: Int
    }

    static let elementwise: Set<String> = [
        "relu", "gelu", "silu", "tanh", "sigmoid", "leaky_relu", "neg", "scale", "shift", "exp", "log", "sqrt", "abs",
        "clamp", "identity", "detach", "cos", "sin", "dropout",
    ]
    static let combining: Set<String> = ["add", "sub", "mul", "div", "maximum", "minimum"]

    /// Traces `model` on `input` and works out which channels go together.
    public static func plan(_ model: Layer, input: Tensor) throws -> Plan {
        let graph = try model.trace(input)
        var names: [ObjectIdentifier: String] = [:]
        var layerOfWeight: [ObjectIdentifier: ChannelPrunable] = [:]
        for (name, layer) in model.namedModules {
            names[ObjectIdentifier(layer)] = name
            if let p = layer as? ChannelPrunable { layerOfWeight[ObjectIdentifier(p.weight)] = p }
        }
        var sets = GroupSets()
        var producerGroup: [ObjectIdentifier: Int] = [:]
        var producers: [Int: [ChannelPrunable]] = [:]
        var consumers: [(layer: ChannelPrunable, group: Int?, factor: Int)] = []
        var followers: [(layer: BatchNorm, group: Int)] = []
        var tags: [Graph.Source: Tag] = [:]

        func lock(_ tag: Tag?, _ reason: String) { if let tag { sets.lock(tag.group, reason) } }

        for node in graph.topLevel {
            let input = node.inputs.map { tags[$0] }
            let name = node.op.name
            switch name {
            case "linear", "conv2d":
                guard node.inputs.count >= 2, case .parameter(let w) = node.inputs[1],
                    let layer = layerOfWeight[ObjectIdentifier(graph.parameters[w].variable)]
                else {
                    for t in input { lock(t, "\(name) at node \(node.name) uses a weight no layer owns") }
                    continue
                }
                let channelAxis = name == "linear" ? graph.shape(of: node.inputs[0]).count - 1 : 1
                if let t = input[0], t.axis != channelAxis {
                    lock(t, "\(name) at node \(node.name) reads them along another axis")
                } else {
                    consumers.append((layer, input[0]?.group, input[0]?.factor ?? 1))
                }
                let id = ObjectIdentifier(layer)
                let group = producerGroup[id] ?? sets.make()
                if producerGroup[id] == nil {
                    producerGroup[id] = group
                    producers[group] = [layer]
                }
                tags[.node(node.id)] = Tag(group: group, axis: name == "linear" ? node.shape.count - 1 : 1, factor: 1)
            case "batch_norm":
                guard let t = input[0] else { continue }
                guard let norm = node.owner as? BatchNorm, t.axis == 1, t.factor == 1 else {
                    lock(t, "the batch norm at node \(node.name) is not a layer over them")
                    continue
                }
                followers.append((norm, t.group))
                tags[.node(node.id)] = t
            case "max_pool2d", "avg_pool2d":
                guard let t = input[0] else { continue }
                guard t.axis == 1 else {
                    lock(t, "\(name) at node \(node.name) pools along them")
                    continue
                }
                tags[.node(node.id)] = t
            case "flatten", "reshape":
                guard let t = input[0] else { continue }
                let before = graph.shape(of: node.inputs[0])
                // Only flattening what follows the channel axis into it keeps channels apart, as
                // blocks of consecutive features.
                if t.axis == 1, node.shape.count == 2, before.count >= 2, node.shape[0] == before[0] {
                    tags[.node(node.id)] = Tag(group: t.group, axis: 1, factor: t.factor * before[2...].reduce(1, *))
                } else if t.axis == before.count - 1, node.shape.count == before.count, node.shape.last == before.last {
                    tags[.node(node.id)] = t
                } else {
                    lock(t, "\(name) at node \(node.name) reshapes them")
                }
            case _ where elementwise.contains(name):
                if let t = input[0] { tags[.node(node.id)] = t }
            case _ where combining.contains(name):
                guard let first = input.lazy.compactMap({ $0 }).first else { continue }
                var fine = true
                for (source, t) in zip(node.inputs, input) {
                    if let t {
                        guard t.axis == first.axis, t.factor == first.factor, graph.shape(of: source) == node.shape else {
                            fine = false
                            break
                        }
                        sets.union(first.group, t.group)
                    } else {
                        // The other side must not vary along the channels (a number, a row broadcast).
                        let shape = graph.shape(of: source)
                        let axis = first.axis - (node.shape.count - shape.count)
                        if axis >= 0 && shape[axis] != 1 { fine = false }
                    }
                }
                if fine {
                    tags[.node(node.id)] = first
                } else {
                    for t in input {
                        lock(t, "\(name) at node \(node.name) combines them with values that are not pruned alike (the model's input, or a tensor no layer owns)")
                    }
                }
            default:
                for t in input { lock(t, "\(node.op.description) at node \(node.name) mixes them") }
            }
        }
        for output in graph.outputs { lock(tags[output], "they are the model's output") }
        // A layer that reads channels in one place and unpruned values in another cannot lose
        // inputs; one that reads two groups ties them.
        var readBy: [ObjectIdentifier: [(group: Int?, factor: Int)]] = [:]
        for c in consumers { readBy[ObjectIdentifier(c.layer), default: []].append((c.group, c.factor)) }
        for uses in readBy.values where uses.count > 1 {
            let groups = uses.compactMap(\.group)
            if groups.count < uses.count || Set(uses.map(\.factor)).count > 1 {
                for g in groups { sets.lock(g, "a layer reads them in one place and other values in another") }
            } else {
                for g in groups.dropFirst() { sets.union(groups[0], g) }
            }
        }

        var groups: [Group] = []
        var members: [Int: [ChannelPrunable]] = [:]
        for (group, layers) in producers { members[sets.find(group), default: []] += layers }
        for (root, layers) in members.sorted(by: { $0.key < $1.key }) {
            var reason = sets.reason(root)
            let widths = Set(layers.map(\.outputChannels))
            if reason == nil, widths.count > 1 {
                reason = "they tie layers of different widths \(widths.sorted())"
            }
            for f in followers where sets.find(f.group) == root && f.layer.weight.shape[0] != layers[0].outputChannels {
                reason = reason ?? "a batch norm over them has \(f.layer.weight.shape[0]) channels"
            }
            let named = layers.map { (name: names[ObjectIdentifier($0)] ?? "?", layer: $0) }
            groups.append(Group(producers: named, channels: layers[0].outputChannels, lockedBecause: reason, id: root))
        }
        return Plan(
            groups: groups, producerGroup: producerGroup.mapValues { sets.find($0) },
            consumers: consumers.compactMap { c in c.group.map { (c.layer, sets.find($0), c.factor) } },
            followers: followers.map { ($0.layer, sets.find($0.group)) })
    }

    /// Keeps, for each pruned group, the channels `kept` gives (by the group's position in
    /// `plan.groups`), and removes the rest from every layer the plan names, in place. Returns the
    /// weights whose shapes changed.
    public static func apply(_ plan: Plan, to model: Layer, keeping kept: [Int: [Int]]) throws -> [Change] {
        var keptByGroup: [Int: [Int]] = [:]
        for (index, channels) in kept {
            let group = plan.groups[index]
            guard group.lockedBecause == nil else {
                throw Refusal("the channels of \(group.producers.map(\.name).joined(separator: ", ")) cannot be pruned: \(group.lockedBecause ?? "")")
            }
            guard !channels.isEmpty, channels.allSatisfy({ (0..<group.channels).contains($0) }) else {
                throw Refusal("kept channels must be at least one, each in 0..<\(group.channels)")
            }
            keptByGroup[group.id] = channels.sorted()
        }
        var inputs: [ObjectIdentifier: [Int]] = [:]
        for c in plan.consumers {
            if let channels = keptByGroup[c.group] {
                inputs[ObjectIdentifier(c.layer)] = ChannelSelection.expand(channels, factor: c.factor)
            }
        }
        var replacements: [ObjectIdentifier: Layer] = [:]
        var changes: [Change] = []
        let names = Dictionary(model.namedModules.map { (ObjectIdentifier($0.layer), $0.name) }, uniquingKeysWith: { a, _ in a })
        for (name, layer) in model.namedModules {
            let id = ObjectIdentifier(layer)
            if let prunable = layer as? ChannelPrunable {
                let outputs = plan.producerGroup[id].flatMap { keptByGroup[$0] }
                guard outputs != nil || inputs[id] != nil else { continue }
                let made = prunable.keeping(outputs: outputs, inputs: inputs[id])
                replacements[id] = made
                if let w = made.namedParameters.first?.variable {
                    changes.append(Change(name: name, before: prunable.weight.shape, after: w.shape))
                }
            }
        }
        for f in plan.followers {
            guard let channels = keptByGroup[f.group], replacements[ObjectIdentifier(f.layer)] == nil else { continue }
            let made = try f.layer.keeping(channels)
            replacements[ObjectIdentifier(f.layer)] = made
            changes.append(
                Change(name: names[ObjectIdentifier(f.layer)] ?? "?", before: f.layer.weight.shape, after: made.weight.shape))
        }
        try model.rewrite { layer, _ in replacements[ObjectIdentifier(layer)] }
        return changes
    }
}

/// Channel groups as disjoint sets: a residual add merges two, and a reason to leave one whole
/// holds for everything merged with it.
private struct GroupSets {
    private var parent: [Int] = []
    private var reasons: [Int: String] = [:]

    mutating func make() -> Int {
        parent.append(parent.count)
        return parent.count - 1
    }

    mutating func find(_ g: Int) -> Int {
        var root = g
        while parent[root] != root { root = parent[root] }
        var node = g
        while parent[node] != root { (node, parent[node]) = (parent[node], root) }
        return root
    }

    mutating func union(_ a: Int, _ b: Int) {
        let (ra, rb) = (find(a), find(b))
        guard ra != rb else { return }
        let (low, high) = (Swift.min(ra, rb), Swift.max(ra, rb))
        parent[high] = low
        if reasons[low] == nil, let r = reasons[high] { reasons[low] = r }
        reasons[high] = nil
    }

    mutating func lock(_ g: Int, _ reason: String) {
        let root = find(g)
        if reasons[root] == nil { reasons[root] = reason }
    }

    mutating func reason(_ g: Int) -> String? { reasons[find(g)] }
}
