import CCairo
import Foundation

/// The canvas cairo draws: the only file that calls cairo. Text goes through cairo's font
/// selection (fontconfig), so labels use the system's DejaVu Sans.
final class CairoCanvas: Canvas {
    private let context: OpaquePointer
    static let fontFamily = "DejaVu Sans"

    init(context: OpaquePointer) {
        self.context = context
        cairo_set_line_join(context, CAIRO_LINE_JOIN_ROUND)
        cairo_set_line_cap(context, CAIRO_LINE_CAP_ROUND)
    }

    private func font(size: Double, bold: Bool) {
        cairo_select_font_face(
            context, Self.fontFamily, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL)
        cairo_set_font_size(context, size)
    }

    private func colour(_ c: Colour, _ alpha: Double = 1) {
        cairo_set_source_rgba(context, c.red, c.green, c.blue, alpha)
    }

    func textWidth(_ text: String, size: Double, bold: Bool) -> Double {
        font(size: size, bold: bold)
        var extents = cairo_text_extents_t()
        cairo_text_extents(context, text, &extents)
        return extents.x_advance
    }

    func fill(_ rect: Rect, _ c: Colour, alpha: Double) {
        colour(c, alpha)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_fill(context)
    }

    func strokeRect(_ rect: Rect, _ c: Colour, width: Double) {
        colour(c)
        cairo_set_line_width(context, width)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_stroke(context)
    }

    func polyline(_ points: [(Double, Double)], _ c: Colour, width: Double, dashed: Bool) {
        guard let first = points.first else { return }
        colour(c)
        cairo_set_line_width(context, width)
        if dashed {
            let pattern: [Double] = [5, 3]
            cairo_set_dash(context, pattern, 2, 0)
        }
        cairo_move_to(context, first.0, first.1)
        for p in points.dropFirst() { cairo_line_to(context, p.0, p.1) }
        cairo_stroke(context)
        if dashed { cairo_set_dash(context, nil, 0, 0) }
    }

    func circle(x: Double, y: Double, radius: Double, _ c: Colour, alpha: Double) {
        colour(c, alpha)
        cairo_new_sub_path(context)
        cairo_arc(context, x, y, radius, 0, 2 * .pi)
        cairo_fill(context)
    }

    func text(_ text: String, x: Double, y: Double, size: Double, bold: Bool, _ c: Colour, anchor: TextAnchor, vertical: Bool) {
        font(size: size, bold: bold)
        colour(c)
        var extents = cairo_text_extents_t()
        cairo_text_extents(context, text, &extents)
        let shift: Double
        switch anchor {
        case .start: shift = 0
        case .middle: shift = extents.x_advance / 2
        case .end: shift = extents.x_advance
        }
        cairo_save(context)
        cairo_translate(context, x, y)
        if vertical { cairo_rotate(context, -.pi / 2) }
        cairo_move_to(context, -shift, 0)
        cairo_show_text(context, text)
        cairo_restore(context)
    }

    func image(_ pixels: [Colour], rows: Int, columns: Int, in rect: Rect) {
        // Cairo takes 32-bit sizes (and refuses sides past 32767); `checkMemory` has counted the pixels.
        guard rows > 0, columns > 0, rows <= Int32.max, columns <= Int32.max, pixels.count >= rows * columns else { return }
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(columns), Int32(rows)) else { return }
        defer { cairo_surface_destroy(surface) }
        cairo_surface_flush(surface)
        let stride = Int(cairo_image_surface_get_stride(surface))
        guard let data = cairo_image_surface_get_data(surface) else { return }
        for r in 0..<rows {
            let row = (data + r * stride).withMemoryRebound(to: UInt32.self, capacity: columns) { $0 }
            for c in 0..<columns {
                row[c] = pixels[r * columns + c].rgb24
            }
        }
        cairo_surface_mark_dirty(surface)
        cairo_save(context)
        cairo_translate(context, rect.x, rect.y)
        cairo_scale(context, rect.width / Double(columns), rect.height / Double(rows))
        cairo_set_source_surface(context, surface, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(context), CAIRO_FILTER_NEAREST)
        cairo_paint(context)
        cairo_restore(context)
    }

    func clip(_ rect: Rect) {
        cairo_save(context)
        cairo_rectangle(context, rect.x, rect.y, rect.width, rect.height)
        cairo_clip(context)
    }

    func unclip() { cairo_restore(context) }
}

/// Why a figure could not be drawn or written.
public struct PlotError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Bytes cairo streams out, collected through its write callback.
private final class ByteSink {
    var bytes: [UInt8] = []
}

private let collect: cairo_write_func_t = { closure, data, length in
    guard let closure, let data else { return CAIRO_STATUS_WRITE_ERROR }
    let sink = Unmanaged<ByteSink>.fromOpaque(closure).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
    return CAIRO_STATUS_SUCCESS
}

extension Figure {
    /// Draws the figure with cairo into `format`, PNG at `scale` device pixels per CSS pixel.
    func cairoRender(_ format: ImageFormat, scale: Double) throws -> [UInt8] {
        try checkMemory(format, scale: scale)
        return try cairoDraw(format, width: width, height: height, scale: scale) { canvas in
            FigureRenderer(figure: self, canvas: canvas).draw()
        }
    }
}

/// Runs `draw` on a cairo canvas of `width × height` CSS pixels and returns the encoded `format`.
func cairoDraw(_ format: ImageFormat, width: Double, height: Double, scale: Double, draw: (Canvas) -> Void) throws -> [UInt8] {
    do {
        let sink = ByteSink()
        let closure = Unmanaged.passUnretained(sink).toOpaque()
        let surface: OpaquePointer?
        switch format {
        case .svg:
            surface = cairo_svg_surface_create_for_stream(collect, closure, width, height)
            if let surface { cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PX) }
        case .pdf:
            surface = cairo_pdf_surface_create_for_stream(collect, closure, width, height)
        case .png:
            surface = cairo_image_surface_create(
                CAIRO_FORMAT_ARGB32, Int32((width * scale).rounded()), Int32((height * scale).rounded()))
        }
        guard let surface else { throw PlotError("cairo could not create a \(format) surface") }
        defer { cairo_surface_destroy(surface) }
        try check(cairo_surface_status(surface))
        guard let context = cairo_create(surface) else { throw PlotError("cairo could not create a drawing context") }
        if format == .png { cairo_scale(context, scale, scale) }
        draw(CairoCanvas(context: context))
        let drawn = cairo_status(context)
        cairo_destroy(context)
        try check(drawn)
        if format == .png {
            try check(cairo_surface_write_to_png_stream(surface, collect, closure))
        } else {
            cairo_surface_finish(surface)
            try check(cairo_surface_status(surface))
        }
        return sink.bytes
    }
}

private func check(_ status: cairo_status_t) throws {
    guard status == CAIRO_STATUS_SUCCESS else {
        throw PlotError("cairo: " + String(cString: cairo_status_to_string(status)))
    }
}

/// A PNG's size and how many distinct colours it holds, read back through cairo (for tests and checks).
public func inspectPNG(_ bytes: [UInt8]) -> (width: Int, height: Int, colours: Int)? {
    final class Source {
        let bytes: [UInt8]
        var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }
    let source = Source(bytes)
    let read: cairo_read_func_t = { closure, data, length in
        guard let closure, let data else { return CAIRO_STATUS_READ_ERROR }
        let source = Unmanaged<Source>.fromOpaque(closure).takeUnretainedValue()
        let n = Int(length)
        guard source.offset + n <= source.bytes.count else { return CAIRO_STATUS_READ_ERROR }
        source.bytes.withUnsafeBufferPointer { bytes in
            if let base = bytes.baseAddress { data.update(from: base + source.offset, count: n) }
        }
        source.offset += n
        return CAIRO_STATUS_SUCCESS
    }
    let surface = withExtendedLifetime(source) {
        cairo_image_surface_create_from_png_stream(read, Unmanaged.passUnretained(source).toOpaque())
    }
    guard let surface else { return nil }
    defer { cairo_surface_destroy(surface) }
    guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else { return nil }
    let width = Int(cairo_image_surface_get_width(surface)), height = Int(cairo_image_surface_get_height(surface))
    let stride = Int(cairo_image_surface_get_stride(surface))
    var colours = Set<UInt32>()
    if let data = cairo_image_surface_get_data(surface) {
        for r in 0..<height {
            let row = (data + r * stride).withMemoryRebound(to: UInt32.self, capacity: width) { $0 }
            for c in 0..<width { colours.insert(row[c]) }
        }
    }
    return (width, height, colours.count)
}
