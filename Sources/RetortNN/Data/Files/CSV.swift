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
    /// `header` nil detects a header row: the first row is one when every feature column holds a
    /// name there, or when the label column does and the next row's label is a number (pandas'
    /// `to_csv` writes `0,1,2,target`), or when `target` is a column name. A first row that is
    /// neither (numbers and names mixed, or pandas' bare `0,1,2,3`) is refused until `header` says.
    /// A number is written in decimal (no hex), finite and within float32's range. The file is UTF-8;
    /// lines end at \n, \r\n or \r; blank lines are skipped; fields are trimmed of spaces and tabs
    /// (labels too) unless double-quoted; a quoted field may span lines, as Python's csv reads it,
    /// and one that never closes is refused at the line it opens on.
    public static func csv(path: String, target: Column = .last, header: Bool? = nil, classNames given: [String]? = nil)
        throws -> Dataset
    {
        let data = try readDataFile(path, op: "csv")
        // Bytes that are not UTF-8 (a Latin-1 export) would decode to replacement characters, and
        // two labels differing there would become one class: refused where it is, as text() does.
        guard String(validatingUTF8Data: data) != nil else {
            let (line, column, byte) = FileReading.firstInvalidUTF8(data)
            throw TensorError(
                .file, "csv",
                "\(path):\(line):\(column): the file is not UTF-8 text (byte 0x\(String(byte, radix: 16, uppercase: true))); "
                    + "save it as UTF-8 (iconv -f latin1 -t utf-8)")
        }
        let bytes = [UInt8](data)
        var rows = CSVRows(bytes)
        guard let first = rows.next() else { throw TensorError(.file, "csv", "\(path): the file holds no rows") }
        try first.refuseUnclosedQuote(path)
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
                let allNumbers = first.fields.allSatisfy { CSVRows.number($0) != nil }
                throw TensorError(
                    .argument,
                    "csv",
                    allNumbers
                        ? "\(path): target '\(name)' names a column, but the first row (\(first.fields.joined(separator: ", "))) is data, not a header of names; give the column's index (target: -1 for the last)"
                        : "\(path): no column named '\(name)'; the header has \(first.fields.joined(separator: ", "))")
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
            if let header {
                hasHeader = header
            } else {
                hasHeader = try detectHeader(first, next: rows.peek(), labelColumn: position, path: path)
            }
        }

        var features: [Float] = []
        var labelTexts: [String] = []
        var labelLines: [Int] = []
        var row: CSVRows.Row? = hasHeader ? rows.next() : first
        while let current = row {
            // A large file takes a while: let an interrupt stop it (every 4,096 lines).
            if current.line & 0xFFF == 0 && Cancellation.isRequested() { throw Cancellation.Stopped(op: "csv") }
            try current.refuseUnclosedQuote(path)
            guard current.fields.count == width else {
                throw TensorError(
                    .file, "csv", "\(path):\(current.line): expected \(width) fields, found \(current.fields.count)")
            }
            for (column, field) in current.fields.enumerated() {
                if column == labelColumn {
                    labelTexts.append(field)
                    labelLines.append(current.line)
                } else {
                    features.append(try number(field, at: "\(path):\(current.line):\(column + 1)"))
                }
            }
            row = rows.next()
        }
        guard !labelTexts.isEmpty else { throw TensorError(.file, "csv", "\(path): the file holds a header but no data rows") }

        let labels: [Float]
        let classes: Int
        var classNames: [String]? = nil
        let numbers = labelTexts.map { CSVRows.number($0) }
        if let given {
            guard !given.isEmpty, Set(given.map(labelKey)).count == given.count else {
                throw TensorError(
                    .argument, "csv", "classes must name each class once, got [\(given.joined(separator: ", "))]")
            }
            let index = Dictionary(uniqueKeysWithValues: given.enumerated().map { (labelKey($1), $0) })
            labels = try labelTexts.enumerated().map { i, text in
                guard let known = index[labelKey(text)] else {
                    throw TensorError(
                        .file, "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(text)' is not one of the classes given "
                            + "(\(given.joined(separator: ", ")))")
                }
                return Float(known)
            }
            classes = given.count
            classNames = given
        } else if numbers.contains(where: { $0 != nil }) {
            labels = try numbers.enumerated().map { i, number in
                // A missing or text label among numbers (an empty cell, NA) is refused where it is:
                // read as a class name it once renumbered every class. Float holds every whole
                // number up to 2^24 exactly; the check is on the written value, before float32.
                guard let value = number else {
                    throw TensorError(
                        .file, "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(labelTexts[i])' is not a number, while other "
                            + "labels are (a missing label? text labels are names on every line)")
                }
                guard value >= 0, value == value.rounded(), value <= 16_777_216 else {
                    throw TensorError(
                        .file,
                        "csv",
                        "\(path):\(labelLines[i]):\(labelColumn + 1): label '\(labelTexts[i])' is not a class index "
                            + (value >= 0 && value == value.rounded()
                                ? "(at most 16777216, the largest whole number float32 holds exactly)"
                                : "(a whole number ≥ 0)"))
                }
                return Float(value)
            }
            classes = Int(labels.max() ?? -1) + 1
        } else {
            if let i = labelTexts.firstIndex(of: "") {
                throw TensorError(
                    .file, "csv",
                    "\(path):\(labelLines[i]):\(labelColumn + 1): the label is empty"
                        + (labelTexts.allSatisfy(\.isEmpty) ? " on every line (a comma at the end of each line?)" : ""))
            }
            // Told apart and sorted by code point, as Python's set and sorted take them (Swift's
            // String equality merged "é" precomposed with "e" and a combining accent).
            var firstSpelling: [[UInt32]: String] = [:]
            for text in labelTexts where firstSpelling[labelKey(text)] == nil { firstSpelling[labelKey(text)] = text }
            let keys = firstSpelling.keys.sorted { $0.lexicographicallyPrecedes($1) }
            let names = keys.compactMap { firstSpelling[$0] }
            let index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
            labels = labelTexts.map { Float(index[labelKey($0)] ?? 0) }
            classes = names.count
            classNames = names
        }
        return try Dataset(
            x: Tensor(shape: [labels.count, width - 1], scalars: features), y: Tensor(labels), classes: classes,
            name: baseName(path, dropping: [".gz", ".csv"]), classNames: classNames)
    }
}

extension Dataset {
    /// Whether `first` is a header row (see `csv`), or an error when it cannot be told.
    fileprivate static func detectHeader(_ first: CSVRows.Row, next: CSVRows.Row?, labelColumn: Int, path: String) throws
        -> Bool
    {
        let features = first.fields.enumerated().filter { $0.offset != labelColumn }.map(\.element)
        let names = features.filter { CSVRows.number($0) == nil }
        if !features.isEmpty && names.count == features.count { return true }
        let place = "\(path):\(first.line)"
        if !names.isEmpty {
            throw TensorError(
                .file, "csv",
                "\(place): the first row mixes numbers and text (\(first.fields.joined(separator: ", "))): a header names every "
                    + "column, and a data row's '\(names[0])' is not a number; say header: true or header: false")
        }
        let label = first.fields[labelColumn]
        if CSVRows.number(label) == nil, let next, next.fields.indices.contains(labelColumn),
            CSVRows.number(next.fields[labelColumn]) != nil
        {
            return true
        }
        // pandas' to_csv of a DataFrame with unnamed columns and a named label: 0,1,2,3,species
        // over rows of numbers and text labels; read as data, its label became a class of its own.
        let label0 = first.fields[labelColumn]
        if CSVRows.number(label0) == nil, features == features.indices.map(String.init) {
            throw TensorError(
                .file, "csv",
                "\(place): the first row \(first.fields.joined(separator: ",")) may be pandas' column names (0, 1, ... and "
                    + "'\(label0)') or data; say header: true or header: false")
        }
        if first.fields == first.fields.indices.map(String.init) {
            throw TensorError(
                .file, "csv",
                "\(place): the first row \(first.fields.joined(separator: ",")) may be pandas' column names or data; say "
                    + "header: true or header: false")
        }
        return false
    }

    /// A label as its code points: two labels are one class when they are the same code points.
    fileprivate static func labelKey(_ text: String) -> [UInt32] { text.unicodeScalars.map(\.value) }

    /// A feature's value, or an error naming its place.
    fileprivate static func number(_ field: String, at place: String) throws -> Float {
        guard let value = CSVRows.number(field) else {
            throw TensorError(.file, "csv", "\(place): '\(field)' is not a number")
        }
        // A NaN (a missing value written as nan) would turn its whole column to NaN under
        // standardize and fail training later, far from here: refused where it is, as ±inf.
        guard value.isFinite else {
            throw TensorError(
                .file, "csv", "\(place): '\(field)' is not a finite number (a missing value? fill or drop it first)")
        }
        guard Swift.abs(value) <= Double(Float.greatestFiniteMagnitude) else {
            throw TensorError(.file, "csv", "\(place): '\(field)' is beyond float32's range (±3.4e38)")
        }
        return Float(value)
    }
}

/// The non-blank rows of a CSV file, split into trimmed fields, with their 1-based line numbers (a
/// quoted field may hold line ends, so a row may span lines).
struct CSVRows: IteratorProtocol {
    struct Row {
        /// The line the row starts on.
        let line: Int
        let fields: [String]
        /// Whether a quoted field opened in it runs to the end of the file.
        var unclosedQuote = false

        /// Refuses a row whose quoted field never closes (Python's csv: "unexpected end of data").
        func refuseUnclosedQuote(_ path: String) throws {
            guard unclosedQuote else { return }
            throw TensorError(
                .file, "csv",
                "\(path):\(line): a double-quoted field opens in this row and is not closed before the end of the file")
        }
    }

    private let bytes: [UInt8]
    private var position = 0
    private var line = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        // A UTF-8 byte-order mark, as spreadsheet programs write, is not part of the first field.
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    /// A field as a number: decimal or scientific notation, `nan` and `inf` as Python's float
    /// reads them; not hex (`0x10`), which Swift's parser would take and pandas would not.
    static func number(_ field: String) -> Double? {
        guard !field.contains(where: { $0 == "x" || $0 == "X" || $0 == "p" || $0 == "P" }) else { return nil }
        return Double(field)
    }

    /// The next row, without taking it.
    func peek() -> Row? {
        var copy = self
        return copy.next()
    }

    mutating func next() -> Row? {
        while position < bytes.count {
            line += 1
            let (start, first) = (position, line)
            // A record ends at \n, \r\n or a lone \r (old Mac files) outside double quotes, as
            // Python's csv module reads them: a quoted field may span lines.
            var (end, quoted, atFieldStart) = (start, false, true)
            while end < bytes.count {
                let c = bytes[end]
                if quoted {
                    if c == UInt8(ascii: "\"") {
                        if end + 1 < bytes.count && bytes[end + 1] == UInt8(ascii: "\"") { end += 1 } else { quoted = false }
                    } else if c == UInt8(ascii: "\n") || (c == UInt8(ascii: "\r") && !Self.isCRLF(bytes, at: end)) {
                        line += 1
                    }
                } else if c == UInt8(ascii: "\n") || c == UInt8(ascii: "\r") {
                    break
                } else if c == UInt8(ascii: ",") {
                    atFieldStart = true
                } else if c == UInt8(ascii: "\"") && atFieldStart {
                    (quoted, atFieldStart) = (true, false)
                } else if c != UInt8(ascii: " ") && c != UInt8(ascii: "\t") {
                    atFieldStart = false
                }
                end += 1
            }
            position = end + 1
            if end < bytes.count && Self.isCRLF(bytes, at: end) { position += 1 }
            let text = bytes[start..<min(end, bytes.count)]
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { continue }
            return Row(line: first, fields: Self.fields(text), unclosedQuote: quoted)
        }
        return nil
    }

    /// Whether a \r at `index` starts a \r\n line end.
    private static func isCRLF(_ bytes: [UInt8], at index: Int) -> Bool {
        bytes[index] == UInt8(ascii: "\r") && index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "\n")
    }

    /// Splits one row at commas outside double quotes; `""` inside quotes is one quote.
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
            } else if c == UInt8(ascii: "\"") && !wasQuoted
                && field.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
            {
                // An opening quote (after optional blanks) starts a quoted field; one after a closed
                // quoted field is a character of it, as `next()` (which finds the row's end) and
                // Python's csv take it.
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
