import CRetortData
import Foundation
import RetortTensor

/// Text examples, one per line: names to model, one character at a time.
public struct Corpus: Sendable {
    public var lines: [String]
    public var name: String
    /// The vocabulary the lines were sampled with, for a corpus of a model's samples; nil for text.
    public var vocabulary: Vocabulary?

    public init(lines: [String], name: String, vocabulary: Vocabulary? = nil) {
        self.lines = lines
        self.name = name
        self.vocabulary = vocabulary
    }

    public var count: Int { lines.count }

    /// The lines of UTF-8 text, ended by LF, CRLF or CR (as Python's `splitlines`); empty lines are
    /// left out. (Swift reads "\r\n" as one character, so splitting at "\n" alone kept a Windows
    /// file as one line.)
    public static func parse(_ text: String, name: String) -> Corpus {
        // A byte-order mark, as Windows editors write, is not a character of the first line.
        let text = text.hasPrefix("\u{FEFF}") ? text.dropFirst() : text[...]
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).map(String.init)
        return Corpus(lines: lines, name: name)
    }

    /// A UTF-8 file as a corpus, one example per line; an empty file is an error.
    public static func read(_ path: String) throws -> Corpus {
        let text: String
        do {
            text = try FileReading.text(path)
        } catch let e as TensorError {
            throw TensorError(.file, "text", e.message)
        }
        let corpus = parse(text, name: (path as NSString).lastPathComponent)
        guard corpus.count > 0 else {
            throw TensorError(.file, "text", "'\(path)' holds no lines of text: the corpus would be empty")
        }
        return corpus
    }

    /// The 2017 US Social Security first names (public domain), 29,910 of them in lowercase, most
    /// popular first: nearly the set Karpathy's makemore models (see Sources/CRetortData/README.md).
    public static func names() throws -> Corpus {
        let compressed = Data(bytes: retort_names_txt_gz(), count: Int(retort_names_txt_gz_length()))
        let text = try Gzip.decompress(compressed, source: "names.txt.gz")
        return parse(String(decoding: text, as: UTF8.self), name: "names")
    }

    /// The lines at the given positions, in that order.
    public func subset(_ indices: [Int]) -> Corpus {
        Corpus(lines: indices.map { lines[$0] }, name: name, vocabulary: vocabulary)
    }

    /// A shuffled split into a first part holding `fraction` of the lines and the rest.
    public func split(_ fraction: Double, seed: UInt64) throws -> (Corpus, Corpus) {
        let parts = try SplitOrder.parts(count: count, fraction: fraction, seed: seed, items: "lines")
        return (subset(parts.first), subset(parts.second))
    }
}

/// A character vocabulary: the end mark (id 0, shown as ".") then every character a corpus uses,
/// in order. A sequence starts and ends with the end mark, as makemore's does. A character is a
/// Unicode code point, as Python's `sorted(set("".join(words)))` takes them, not a grapheme
/// cluster: "é" written as "e" and a combining accent is two tokens, as it is in makemore, and
/// ordered by code point, so the ids match a Python pipeline's on any text.
public struct Vocabulary: Sendable, Equatable {
    public let scalars: [Unicode.Scalar]
    private let ids: [Unicode.Scalar: Int]
    public static let endMark: Character = "."
    public static let endID = 0

    public init(scalars: [Unicode.Scalar]) {
        self.scalars = scalars
        ids = Dictionary(scalars.enumerated().map { ($1, $0 + 1) }, uniquingKeysWith: { first, _ in first })
    }

    /// The characters `corpus` uses, sorted by code point; the end mark comes first.
    public init(_ corpus: Corpus) throws {
        guard corpus.count > 0 else { throw TensorError(.value, "vocab", "the corpus \(corpus.name) is empty") }
        var seen = Set<Unicode.Scalar>()
        for line in corpus.lines { seen.formUnion(line.unicodeScalars) }
        if seen.contains(".") {
            throw TensorError(
                .value, "vocab",
                "the corpus \(corpus.name) uses \".\", which the vocabulary keeps for the end mark; remove it from the text")
        }
        self.init(scalars: seen.sorted { $0.value < $1.value })
    }

    /// Ids, end mark included.
    public var count: Int { scalars.count + 1 }

    /// The characters after the end mark, in id order.
    public var text: String { String(String.UnicodeScalarView(scalars)) }

    public static func == (a: Vocabulary, b: Vocabulary) -> Bool { a.scalars == b.scalars }

    /// The first code point of `text` the vocabulary lacks, and its position (in code points).
    public func firstUnknown(_ text: String) -> (position: Int, scalar: Unicode.Scalar)? {
        text.unicodeScalars.enumerated().first { ids[$0.element] == nil }.map { ($0.offset, $0.element) }
    }

    /// The ids of `text`'s characters; one the vocabulary lacks is an error naming it and where.
    public func encode(_ text: String) throws -> [Int] {
        try text.unicodeScalars.enumerated().map { position, c in
            guard let id = ids[c] else {
                throw TensorError(
                    .value, "encode",
                    "\"\(c)\" at position \(position) of \"\(text)\" is not in the vocabulary (\(count) symbols: .\(self.text))"
                        + (c == "."
                            ? ": \"\(Self.endMark)\" there stands for the end mark, id 0, which no text holds (a sample ends at it)"
                            : "")
                )
            }
            return id
        }
    }

    /// The text of `ids` up to the first end mark (a leading end mark, the start, is skipped).
    public func decode(_ ids: [Int]) throws -> String {
        var text = ""
        for (position, id) in ids.enumerated() {
            guard (0..<count).contains(id) else {
                throw TensorError(.value, "decode", "id \(id) at position \(position) is outside the vocabulary's 0..<\(count)")
            }
            if id == Self.endID {
                if position == 0 && text.isEmpty { continue }
                break
            }
            text.unicodeScalars.append(scalars[id - 1])
        }
        return text
    }

    /// The symbol an id stands for, the end mark as ".".
    public func symbol(_ id: Int) -> String { id == Self.endID ? String(Self.endMark) : String(Character(scalars[id - 1])) }
}

extension Dataset {
    /// Next-token prediction over sequences of ids (without start or end marks): x starts with the
    /// end mark, y ends with it, positions past the end hold the end mark in x and −1 in y.
    public static func sequences(ids: [[Int]], block: Int, classes: Int, name: String, classNames: [String]? = nil) throws
        -> Dataset
    {
        guard !ids.isEmpty else { throw TensorError(.value, "sequences", "there are no sequences") }
        guard block >= 1 else { throw TensorError(.argument, "sequences", "block must be at least 1, got \(block)") }
        try MemoryBudget.check("sequences", [ids.count, block, 2])
        var xs = [Float](repeating: Float(Vocabulary.endID), count: ids.count * block)
        var ys = [Float](repeating: -1, count: ids.count * block)
        for (row, sequence) in ids.enumerated() {
            guard sequence.count + 1 <= block else {
                throw TensorError(
                    .value, "sequences",
                    "sequence \(row + 1) has \(sequence.count) tokens: with its end mark it needs a block of \(sequence.count + 1), more than \(block)"
                )
            }
            for (t, id) in sequence.enumerated() {
                if t + 1 < block { xs[row * block + t + 1] = Float(id) }
                ys[row * block + t] = Float(id)
            }
            ys[row * block + sequence.count] = Float(Vocabulary.endID)
        }
        return try Dataset(
            x: Tensor(shape: [ids.count, block], scalars: xs), y: Tensor(shape: [ids.count, block], scalars: ys),
            classes: classes, name: name, classNames: classNames)
    }

    /// Next-character prediction over `corpus`: example i is the line's ids after a starting end
    /// mark, `x [N, block]`, and the next ids, `y [N, block]`, the line's ids then the end mark.
    /// Positions past the end hold the end mark in x and −1 in y (ignored by the loss and the
    /// metric). A line longer than block − 1 characters is an error naming it.
    public static func sequences(_ corpus: Corpus, vocabulary: Vocabulary, block: Int) throws -> Dataset {
        guard corpus.count > 0 else { throw TensorError(.value, "sequences", "the corpus \(corpus.name) is empty") }
        let ids = try corpus.lines.enumerated().map { row, line in
            if let (position, c) = vocabulary.firstUnknown(line) {
                throw TensorError(
                    .value, "sequences",
                    "line \(row + 1) of \(corpus.name), \"\(line)\", has \"\(c)\" at position \(position), which is not in the vocabulary (\(vocabulary.count) symbols: .\(vocabulary.text))"
                        + (c == "."
                            ? ": \"\(Vocabulary.endMark)\" there stands for the end mark, id 0, which no text holds"
                            : ": make the vocabulary from the whole text, before splitting it")
                )
            }
            let ids = try vocabulary.encode(line)
            guard ids.count + 1 <= block else {
                throw TensorError(
                    .value, "sequences",
                    "line \(row + 1) of \(corpus.name), \"\(line)\", has \(ids.count) characters: with its end mark it needs a block of \(ids.count + 1), more than \(block)"
                )
            }
            return ids
        }
        return try sequences(
            ids: ids, block: block, classes: vocabulary.count, name: corpus.name,
            classNames: (0..<vocabulary.count).map(vocabulary.symbol))
    }
}
