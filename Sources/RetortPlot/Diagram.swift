/// Boxes joined by arrows, laid out top to bottom in layers: how a model's graph is drawn. Each
/// node sits one layer below the lowest of the nodes it reads, so a residual connection shows as
/// an arrow that skips layers.
public struct Diagram: Sendable {
    public struct Node: Sendable {
        /// The first line in the box (the node's name and op).
        public var label: String
        /// A second, lighter line (its shape), or nil.
        public var detail: String?
        /// Palette index of the box's edge: one colour per kind of node.
        public var colour: Int

        public init(label: String, detail: String? = nil, colour: Int = 0) {
            (self.label, self.detail, self.colour) = (label, detail, colour)
        }
    }

    public var nodes: [Node]
    /// Arrows from a node to a node that reads it; sources come before their targets.
    public var edges: [(from: Int, to: Int)]

    public init(nodes: [Node], edges: [(from: Int, to: Int)]) {
        self.nodes = nodes
        self.edges = edges.filter { $0.from < $0.to && $0.to < nodes.count && $0.from >= 0 }
    }

    /// Each node's layer: 0 for nodes that read nothing, else one more than their deepest source.
    public var layers: [Int] {
        var layer = [Int](repeating: 0, count: nodes.count)
        for edge in edges.sorted(by: { $0.to < $1.to }) { layer[edge.to] = Swift.max(layer[edge.to], layer[edge.from] + 1) }
        return layer
    }

    /// The nodes of each layer, in node order.
    var rows: [[Int]] {
        let layer = layers
        var rows = [[Int]](repeating: [], count: (layer.max() ?? -1) + 1)
        for (node, l) in layer.enumerated() { rows[l].append(node) }
        return rows
    }
}

extension Figure {
    /// A figure showing `diagram`, sized to its layers and widest row.
    public init(diagram: Diagram, title: String? = nil) {
        let rows = diagram.rows
        // About 7 units per character of the longer line, plus the box's padding and the gap.
        func boxWidth(_ node: Diagram.Node) -> Double {
            Double(Swift.max(node.label.count, node.detail?.count ?? 0)) * 7 + 46
        }
        let widest = rows.map { row in row.map { boxWidth(diagram.nodes[$0]) }.reduce(0, +) }.max() ?? 200
        let layer = diagram.layers
        let skips = diagram.edges.filter { layer[$0.to] - layer[$0.from] > 1 }.count
        self.init(
            title: title, panels: [], width: Swift.max(360, Swift.min(widest + 40 + 20 * Double(skips), 4000)),
            height: Swift.min(Double(rows.count) * DiagramLayout.rowHeight + 40 + (title == nil ? 0 : 28), 20000))
        self.diagram = diagram
    }
}

/// Where each box goes, in canvas units.
struct DiagramLayout {
    static let rowHeight = 62.0
    static let boxHeight = 36.0
    let boxes: [Rect]

    init(_ diagram: Diagram, width: Double, top: Double, measure: (String) -> Double) {
        var boxes = [Rect](repeating: Rect(x: 0, y: 0, width: 0, height: 0), count: diagram.nodes.count)
        for (r, row) in diagram.rows.enumerated() {
            let widths = row.map { node in
                Swift.max(measure(diagram.nodes[node].label), measure(diagram.nodes[node].detail ?? "")) + 20
            }
            let gap = 16.0
            var x = (width - widths.reduce(0, +) - gap * Double(Swift.max(widths.count - 1, 0))) / 2
            for (node, w) in zip(row, widths) {
                boxes[node] = Rect(x: x, y: top + Double(r) * Self.rowHeight, width: w, height: Self.boxHeight)
                x += w + gap
            }
        }
        self.boxes = boxes
    }
}

extension FigureRenderer {
    /// Arrows first, then the boxes over them, so an arrow that skips layers passes behind.
    func draw(_ diagram: Diagram, top: Double) {
        let layout = DiagramLayout(diagram, width: figure.width, top: top + 10) {
            canvas.textWidth($0, size: Self.tickSize, bold: false)
        }
        let layer = diagram.layers
        var lanes = 0
        for edge in diagram.edges {
            let (a, b) = (layout.boxes[edge.from], layout.boxes[edge.to])
            var path: [(Double, Double)]
            if layer[edge.to] - layer[edge.from] > 1 {
                // An arrow that skips layers (a residual connection) goes round the right of the
                // boxes between, in its own lane, and enters its target from the side.
                let between = layout.boxes.indices.filter { layer[$0] > layer[edge.from] && layer[$0] < layer[edge.to] }
                let right = ([a.maxX, b.maxX] + between.map { layout.boxes[$0].maxX }).max() ?? a.maxX
                lanes += 1
                let lane = right + 12 + 10 * Double(lanes - 1)
                path = [(a.maxX, a.y + a.height / 2), (lane, a.y + a.height / 2), (lane, b.y + b.height / 2), (b.maxX, b.y + b.height / 2)]
            } else {
                path = [(a.x + a.width / 2, a.maxY), (b.x + b.width / 2, b.y)]
            }
            canvas.polyline(path, Palette.axis, width: 1.2, dashed: false)
            arrowhead(from: path[path.count - 2], to: path[path.count - 1])
        }
        for (node, box) in zip(diagram.nodes, layout.boxes) {
            canvas.fill(box, Palette.background, alpha: 1)
            canvas.strokeRect(box, Palette.series(node.colour), width: 1.5)
            canvas.text(
                node.label, x: box.x + box.width / 2, y: box.y + (node.detail == nil ? 22 : 16), size: Self.tickSize,
                bold: false, Palette.ink, anchor: .middle, vertical: false)
            if let detail = node.detail {
                canvas.text(
                    detail, x: box.x + box.width / 2, y: box.y + 30, size: Self.tickSize - 1.5, bold: false, Palette.axis,
                    anchor: .middle, vertical: false)
            }
        }
    }
}

extension FigureRenderer {
    /// A small open arrowhead at `end`, pointing along the segment from `start`.
    fileprivate func arrowhead(from start: (Double, Double), to end: (Double, Double)) {
        let (dx, dy) = (end.0 - start.0, end.1 - start.1)
        let length = Swift.max((dx * dx + dy * dy).squareRoot(), 1)
        let (ux, uy) = (dx / length, dy / length)
        canvas.polyline(
            [(end.0 - 6 * ux - 3.5 * uy, end.1 - 6 * uy + 3.5 * ux), end, (end.0 - 6 * ux + 3.5 * uy, end.1 - 6 * uy - 3.5 * ux)],
            Palette.axis, width: 1.2, dashed: false)
    }
}

extension Diagram {
    /// The diagram as text: one line per node, top to bottom, indented by layer, with the nodes it
    /// reads after an arrow.
    func text(width: Int) -> String {
        let layer = layers
        var readers = [[Int]](repeating: [], count: nodes.count)
        for edge in edges { readers[edge.to].append(edge.from) }
        return nodes.indices.map { i in
            let node = nodes[i]
            var line = String(repeating: "  ", count: Swift.min(layer[i], 20)) + node.label
            if let detail = node.detail { line += " " + detail }
            if !readers[i].isEmpty {
                line += "  ← " + readers[i].map { nodes[$0].label.split(separator: ":").first.map(String.init) ?? "" }.joined(separator: ", ")
            }
            return String(line.prefix(Swift.max(width, 1)))
        }.joined(separator: "\n") + "\n"
    }
}
