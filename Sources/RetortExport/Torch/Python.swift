import Foundation

/// Python source text: literals and names as the generated PyTorch files write them.
public enum Python {
    /// Python's keywords and the names the generated files use for modules they import; a Retort
    /// name equal to one gets a trailing underscore.
    public static let reserved: Set<String> = [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
        "not", "or", "pass", "raise", "return", "try", "while", "with", "yield", "match", "case", "torch", "nn", "F",
        "math", "self", "DEVICE", "TERMS",
    ]

    /// A Retort name as a Python identifier: itself, with an underscore after a reserved word.
    public static func identifier(_ name: String) -> String {
        var text = String(name.unicodeScalars.map { isIdentifierScalar($0) ? Character($0) : "_" })
        if text.isEmpty || text.first!.isNumber { text = "_" + text }
        return reserved.contains(text) || text.hasPrefix("rt_") ? text + "_" : text
    }

    private static func isIdentifierScalar(_ s: Unicode.Scalar) -> Bool {
        s.properties.isAlphabetic || ("0"..."9").contains(s) || s == "_"
    }

    /// A number as Python reads it back exactly: whole numbers as integers (they index lists and
    /// name axes), others by the shortest text that rounds to the same double; inf and NaN by name.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "math.nan" }
        if value.isInfinite { return value > 0 ? "math.inf" : "-math.inf" }
        if value == value.rounded(), Swift.abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    /// A float32 value by its shortest text, so Python's double rounds back to the same float32.
    public static func float(_ value: Float) -> String {
        if value.isNaN { return "math.nan" }
        if value.isInfinite { return value > 0 ? "math.inf" : "-math.inf" }
        if value == value.rounded(), Swift.abs(value) < 1e7 { return String(Int(value)) + ".0" }
        return "\(value)"
    }

    /// A string literal in double quotes.
    public static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 32 || scalar.value == 127 {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// `[1, 2, 3]`.
    public static func ints(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
    /// A list of Python string literals.
    public static func strings(_ values: [String]) -> String { "[" + values.map(string).joined(separator: ", ") + "]" }

    /// A comment block: each line of `text` after `# `.
    public static func comment(_ text: String, indent: String = "") -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "\(indent)# \($0)".trimmingTrailingSpaces }
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
