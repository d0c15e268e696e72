import Foundation
import RetortTensor

/// The file formats a figure renders to.
public enum ImageFormat: String, Sendable, CaseIterable {
    case svg, png, pdf

    /// The format a path's extension names, if any.
    public init?(path: String) {
        self.init(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    public var mimeType: String {
        switch self {
        case .svg: return "image/svg+xml"
        case .png: return "image/png"
        case .pdf: return "application/pdf"
        }
    }
}

extension Figure {
    /// The figure as an SVG document, `width × height` CSS pixels.
    public func svg() throws -> String {
        String(decoding: try cairoRender(.svg, scale: 1), as: UTF8.self)
    }

    /// The figure as PNG bytes at `scale` device pixels per CSS pixel (2 for sharp notebook screens).
    public func png(scale: Double = 2) throws -> [UInt8] { try cairoRender(.png, scale: scale) }

    /// The figure as a one-page PDF.
    public func pdf() throws -> [UInt8] { try cairoRender(.pdf, scale: 1) }

    /// Writes the figure to `path` in the format its extension names (`.svg`, `.png` or `.pdf`).
    public func save(to path: String) throws {
        guard let format = ImageFormat(path: path) else {
            let ext = URL(fileURLWithPath: path).pathExtension
            throw PlotError(
                "cannot tell the format of \"\(path)\"\(ext.isEmpty ? " (no extension)" : " (.\(ext))"): use .svg, .png or .pdf")
        }
        let bytes = try cairoRender(format, scale: 2)
        let url = URL(fileURLWithPath: path)
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw PlotError("cannot write \"\(path)\": \((error as NSError).localizedDescription)")
        }
    }

    /// Refuses, before cairo or the renderer allocate anything, a figure whose size is not a finite
    /// positive number, a PNG whose pixels or a heatmap whose colours would pass the memory budget.
    func checkMemory(_ format: ImageFormat, scale: Double) throws {
        guard width.isFinite, height.isFinite, width > 0, height > 0, scale.isFinite, scale > 0 else {
            throw PlotError(
                "cannot draw a figure \(width) × \(height) pixels at scale \(scale): sizes must be finite and positive")
        }
        if format == .png {
            let (w, h) = ((width * scale).rounded(), (height * scale).rounded())
            let (columns, rows) = (wholeNumber(w, in: 0...Int(Int32.max)), wholeNumber(h, in: 0...Int(Int32.max)))
            try MemoryBudget.check(
                "png", count: MemoryBudget.product([columns, rows]), bytesEach: 4,
                what: "a PNG of \(formatPixels(w)) × \(formatPixels(h)) pixels")
        }
        // The renderer turns a heatmap's values into colours, and a busy one into an image of them.
        for case .heatmap(let h) in panels.flatMap(\.marks) {
            try MemoryBudget.check(
                "heatmap", count: MemoryBudget.product([h.rows, h.columns]), bytesEach: MemoryLayout<Colour>.stride,
                what: "drawing a heatmap of \(h.rows) × \(h.columns) cells")
        }
    }

    /// The layout as the drawing calls it makes, one per line, measured without a font: for golden tests.
    func drawingCalls() -> String {
        let canvas = RecordingCanvas()
        FigureRenderer(figure: self, canvas: canvas).draw()
        return canvas.lines.joined(separator: "\n") + "\n"
    }
}

/// A pixel count as a whole number when it is one that prints plainly, else in scientific notation.
private func formatPixels(_ v: Double) -> String {
    v.isFinite && abs(v) < 1e15 ? String(Int(v)) : String(format: "%g", v)
}
