import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - CSV

extension Dataset {
    /// Which column of a CSV file holds the labels.
    public enum Column: Equatable, Sendable {
        /// The last column.
        case last
        /// A position counted from 0; negative positions count from the end (-1 is the last column).
        case index(Int)
        /// The column with this name in the header row.
        case named(String)
    }

    /// Loads a CSV file (plain or gzip-compressed) of numeric feature columns and one label column.
    ///
    /// Labels that are all numbers must be whole and ≥ 0, and `classes` is the largest plus one;
    /// otherwise every label is a class name, the names sorted and numbered in that order (as
    /// torchvision's ImageFolder does), so that a training file and a test file holding the same
    /// classes number them alike whatever order their rows come in; the names are kept in
    /// `classNames`. `classNames` given: every label must be one of them (a number too is read as a
    /// name then), numbered by its place in that list, so a file missing some classes, or holding
    /// them in another order, numbers them as the file the list came from.
    /// `header` nil detects a header row: the first row is one when a feature column
    /// holds something other than a number there (or when `target` is a column name). Blank lines
    /// are skipped; fields may be double-quoted, but a quoted field cannot span lines.
    public static func csv(path: String, target: Column = .last, header: Bool? = nil, classNames given: [String]? = nil)
        throws -> Dataset
    {
        let bytes = [UInt8](try readDataFile(path, op: "csv"))
        var rows = CSVRows(bytes)
        guard let first = rows.next() else { throw TensorError(.file, "csv", "\(path): the file holds no rows") }
        let width = first.fields.count
        guard width >= 2 else {
            throw TensorError(
                .file,
                "csv", "\(path):\(first.line): needs at least 2 columns (features and a label), found \(width)")
        }
        let hasHeader: Bool
        let labelColumn: Int
        switch target {
        case .named(let name):
            if header == false {
                throw TensorError(.argument, "csv", "\(path): target '\(name)' names a column, but header is false")
            }
            guard let found = first.fields.firstIndex(of: name) else {
                throw TensorError(
                    .argument,
                    "csv", "\(path): no column named '\(name)'; the header has \(first.fields.joined(separator: ", "))")
            }
            hasHeader = true
            labelColumn = found
        case .last, .index:
            var position = width - 1
            if case .index(let index) = target {
                position = index < 0 ? width + index : index
                guard position >= 0, position < width else {
                    throw TensorError(.argument, "csv", "\(path): target column \(index) is out of range for \(width) columns")
                }
            }
            labelColumn = position
            hasHeader =
                header
                ?? first.fields.enumerated().contains { column, field in column != position && Float(field) == nil }
        }

        var features: [Float] = []
        var labelTexts: [String] = []
        var labelLines: [Int] = []
        var row: CSVRows.Row? = hasHeader ? rows.next() : first
        while let current = row {
            // A large file takes a while: let an interrupt stop it (every 4,096 lines).
            if current.line & 0xFFF == 0 && Cancellation.isRequested() { throw Cancellation.Stopped(op: "csv") }
            guard current.fields.count == width else {
                throw TensorError(
                    .file, "csv", "\(path):\(current.line): expected \(width) fields, found \(current.fields.count)")
            }
            for (column, field) in current.fields.enumerated() {
                if column == labelColumn {
                    labelTexts.append(field)
                    labelLines.append(current.line)
                } else {
                    guard let value = Float(field) else {
                        throw TensorError(.file, "csv", "\(path):\(current.line):\(column + 1): '\(field)' is not a number")
                    }
                    features.append(value)
                }
            }
            row = rows.next()
        }
        guard !labelTexts.isEmpty else { throw TensorError(.file, "csv", "\(path): the file holds a header but no data rows") }

        let labels: [Float]
        let classes: Int
        var classNames: [String]? = nil
        let numbers = labelTexts.map { Float($0) }
        if let given {
            guard !given.isEmpty, Set(given).count == given.count else {
                throw TensorError(
                    .argument, "csv", "classes must name each class once, got [\(given.joined(separator: ", "))]")
            }
            let index = Dictionary(uniqueKeysWithValues: given.enumerated().map { ($1, $0) })
            labels = try labelTexts.enumerated().map { i, text in
                guard let known = index[text] else {
                    throw TensorError(
                        .file, "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(text)' is not one of the classes given "
                            + "(\(given.joined(separator: ", ")))")
                }
                return Float(known)
            }
            classes = given.count
            classNames = given
        } else if numbers.allSatisfy({ $0 != nil }) {
            labels = try numbers.enumerated().map { i, number in
                // Float holds every whole number up to 2^24 exactly.
                guard let value = number, value >= 0, value == value.rounded(), value <= 16_777_216 else {
                    throw TensorError(
                        .file,
                        "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(labelTexts[i])' is not a class index "
                            + "(a whole number ≥ 0)")
                }
                return value
            }
            classes = Int(labels.max() ?? -1) + 1
        } else {
            let names = Set(labelTexts).sorted()
            let index = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
            labels = labelTexts.map { Float(index[$0] ?? 0) }
            classes = names.count
            classNames = names
        }
        return try Dataset(
            x: Tensor(shape: [labels.count, width - 1], scalars: features), y: Tensor(labels), classes: classes,
            name: baseName(path, dropping: [".gz", ".csv"]), classNames: classNames)
    }
}

/// The non-blank rows of a CSV file, split into trimmed fields, with their 1-based line numbers.
struct CSVRows: IteratorProtocol {
    struct Row {
        let line: Int
        let fields: [String]
    }

    private let bytes: [UInt8]
    private var position = 0
    private var line = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte-order mark, as spreadsheet programs write, is not part of the first field.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    mutating func next() -> Row? {
        while position < bytes.count {
            line += 1
            let start = position
            var end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            position = end + 1
            if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let text = bytes[start..<end]
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            return Row(line: line, fields: Self.fields(text))
        }
        return nil
    }

    /// Splits one line at commas outside double quotes; `""` inside quotes is one quote.
    static func fields(_ text: ArraySlice<UInt8>) -> [String] {
        var fields: [String] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        var i = text.startIndex
        func finish() {
            var piece = field[...]
            if !wasQuoted {
                while let c = piece.first, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { piece.removeFirst() }
                while let c = piece.last, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { piece.removeLast() }
            }
            fields.append(String(decoding: piece, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        while i < text.endIndex {
            let c = text[i]
            if quoted {
                if c == UInt8(ascii: "\"") {
                    if i + 1 < text.endIndex && text[i + 1] == UInt8(ascii: "\"") {
                        field.append(c)
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == UInt8(ascii: ",") {
                finish()
            } else if c == UInt8(ascii: "\"") && field.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
                // An opening quote (after optional blanks) starts a quoted field.
                field.removeAll()
                quoted = true
                wasQuoted = true
            } else if !(wasQuoted && (c == UInt8(ascii: " ") || c == UInt8(ascii: "\t"))) {
                field.append(c)
            }
            i += 1
        }
        finish()
        return fields
    }
}

// MARK: - IDX
