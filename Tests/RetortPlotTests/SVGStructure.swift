import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// What an SVG from cairo is made of, as sorted lines of text for a golden file: its size, each
/// kind of mark by its colour, width and dashing with a count, the images, and the glyphs placed
/// (cairo writes text as glyph outlines, so the glyph count stands for the labels).
final class SVGStructure: NSObject, XMLParserDelegate {
    private var size = ""
    private var marks: [String: Int] = [:]
    private var glyphsPlaced = 0
    private var glyphShapes = 0
    private var images = 0
    private var inDefinitions = 0

    static func describe(_ svg: String) -> String? {
        let structure = SVGStructure()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = structure
        guard parser.parse() else { return nil }
        var lines = [structure.size, "glyph shapes \(structure.glyphShapes)", "glyphs placed \(structure.glyphsPlaced)"]
        if structure.images > 0 { lines.append("images \(structure.images)") }
        lines += structure.marks.sorted { $0.key < $1.key }.map { "\($0.key) × \($0.value)" }
        return lines.joined(separator: "\n") + "\n"
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        switch name {
        case "svg": size = "svg \(attributes["width"] ?? "?") × \(attributes["height"] ?? "?")"
        case "symbol": glyphShapes += 1
        case "defs": inDefinitions += 1
        case "use": glyphsPlaced += 1
        case "image": images += 1
        case "path",
            "rect" where inDefinitions == 0:
            guard let style = attributes["style"] else { return }
            let properties = Dictionary(
                style.split(separator: ";").compactMap { part -> (String, String)? in
                    let pair = part.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    return pair.count == 2 ? (pair[0], pair[1]) : nil
                }, uniquingKeysWith: { a, _ in a })
            // Cairo writes a filled and outlined shape (the legend's box) as one path with both.
            var parts: [String] = []
            if let fill = properties["fill"], fill != "none" {
                parts.append("fill \(fill) opacity \(properties["fill-opacity"] ?? "1")")
            }
            if let stroke = properties["stroke"], stroke != "none" {
                let dashed = properties["stroke-dasharray"] != nil ? " dashed" : ""
                parts.append("stroke \(stroke) width \(properties["stroke-width"] ?? "1")\(dashed)")
            }
            if !parts.isEmpty { marks["\(name) " + parts.joined(separator: " + "), default: 0] += 1 }
        default: break
        }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "defs" { inDefinitions -= 1 }
    }
}
