import Foundation
import RetortNN
import RetortTensor
import XCTest

/// The CSV, IDX and .npy loaders against `Fixtures/data`, whose `data.json` says what each file holds.
final class LoaderTests: XCTestCase {
    /// The path of a file in `Fixtures/data`.
    private func path(_ file: String) throws -> String {
        guard let probe = Bundle.module.url(forResource: "data.json", withExtension: nil, subdirectory: "Fixtures/data") else {
            throw TensorError("fixture", "missing resource Fixtures/data/data.json")
        }
        return probe.deletingLastPathComponent().appendingPathComponent(file).path
    }

    /// The entry for `file` in `data.json`.
    private func entry(_ file: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: try path("data.json"))))
        guard let files = (object as? [String: Any])?["files"] as? [String: Any], let entry = files[file] as? [String: Any]
        else { throw TensorError("fixture", "data.json has no entry for \(file)") }
        return entry
    }

    /// The `expected` tensor of a `data.json` entry (or of a key inside it).
    private func expected(_ file: String, _ keys: String...) throws -> Tensor {
        var object: Any? = try entry(file)["expected"]
        for key in keys { object = (object as? [String: Any])?[key] }
        return try tensor(object)
    }

    /// A fresh temporary directory, removed after the test.
    private func temporaryDirectory() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort-loaders-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        return folder
    }

    /// A file named `name` holding `bytes`, in a fresh temporary directory.
    private func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = try temporaryDirectory().appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// Asserts that `body` throws a TensorError from `op` whose message contains every fragment.
    private func assertError(
        _ op: String, _ fragments: [String], line: UInt = #line, _ body: () throws -> Void
    ) {
        do {
            try body()
            XCTFail("expected an error containing \(fragments)", line: line)
        } catch let error as TensorError {
            XCTAssertEqual(error.op, op, "\(error)", line: line)
            for fragment in fragments {
                XCTAssertTrue(error.message.contains(fragment), "'\(error)' lacks '\(fragment)'", line: line)
            }
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    // MARK: CSV

    func testCSVWithStringLabelsDetectsTheHeaderAndNumbersClassesInSortedOrder() throws {
        let data = try Dataset.csv(path: path("iris_like.csv"))
        let features = try expected("iris_like.csv", "features")
        XCTAssertEqual(data.x.shape, features.shape)
        assertClose(data.x.scalars, features.scalars, "iris_like features")
        let want = try XCTUnwrap(try entry("iris_like.csv")["expected"] as? [String: Any])
        let firstSeen = try XCTUnwrap(want["classes_first_seen"] as? [String])
        let indices = try XCTUnwrap(want["label_indices_first_seen"] as? [NSNumber])
        // The fixture numbers the names as they first appear; Retort numbers them sorted.
        let sorted = firstSeen.sorted()
        XCTAssertNotEqual(sorted, firstSeen, "the fixture's names must not be sorted already, or this shows nothing")
        let labels = indices.map { Float(sorted.firstIndex(of: firstSeen[$0.intValue]) ?? -1) }
        XCTAssertEqual(data.y.scalars, labels)
        XCTAssertEqual(data.classNames, sorted)
        XCTAssertEqual(data.classes, 3)
        XCTAssertEqual(data.name, "iris_like")
    }

    /// A training file and a test file whose rows name the classes in other orders, and a test file
    /// missing one class, number each class alike: sorted by default, or as the list given.
    func testCSVFilesNumberTheirClassesAlike() throws {
        let train = try Dataset.csv(
            path: try temporaryFile("train.csv", Array("1,virginica\n2,setosa\n3,versicolor\n".utf8)))
        let testPath = try temporaryFile("test.csv", Array("4,setosa\n5,virginica\n".utf8))
        let test = try Dataset.csv(path: testPath)
        XCTAssertEqual(train.classNames, ["setosa", "versicolor", "virginica"])
        XCTAssertEqual(train.y.scalars, [2, 0, 1])
        // Sorted alone, the test file's two classes would be 0 and 1: virginica 1, not 2.
        XCTAssertEqual(test.y.scalars, [0, 1])
        let aligned = try Dataset.csv(path: testPath, classNames: train.classNames)
        XCTAssertEqual(aligned.y.scalars, [0, 2])
        XCTAssertEqual(aligned.classes, 3)
        XCTAssertEqual(aligned.classNames, train.classNames)
        assertError("csv", ["test.csv:2:2: label 'virginica' is not one of the classes given (setosa, versicolor)"]) {
            _ = try Dataset.csv(path: testPath, classNames: ["setosa", "versicolor"])
        }
        assertError("csv", ["classes must name each class once"]) {
            _ = try Dataset.csv(path: testPath, classNames: ["setosa", "setosa"])
        }
    }

    /// What a review found loaded wrong without a word: pandas' header `0,1,target` read as a data
    /// row (one more example, every class renumbered), an empty label renumbering the classes, a
    /// first row with a missing value dropped as a header, 1e40 as inf, 0x10 as 16, 2.0000001 as 2.
    func testCSVRefusesWhatItCannotTellAndReadsPandasHeaders() throws {
        let pandas = try Dataset.csv(path: try temporaryFile("pandas.csv", Array("0,1,target\n1,2,0\n3,4,2\n".utf8)))
        XCTAssertEqual(pandas.count, 2)
        XCTAssertEqual(pandas.y.scalars, [0, 2])
        XCTAssertNil(pandas.classNames)
        let cases: [(String, String)] = [
            ("0,1,2\n1,2,0\n", "bare.csv:1: the first row 0,1,2 may be pandas' column names or data"),
            ("1,NA,0\n2,3,1\n", "mixed.csv:1: the first row mixes numbers and text (1, NA, 0)"),
            ("1,2,0\n3,4,\n5,6,1\n", "empty.csv:2:3: label '' is not a number, while other labels are"),
            ("a,b,label,\n1,2,0,\n", "trail.csv:2:4: the label is empty on every line"),
            ("1,2,0\n1e40,2,1\n", "big.csv:2:1: '1e40' is beyond float32's range"),
            ("1,2,0\n0x10,2,1\n", "hex.csv:2:1: '0x10' is not a number"),
            ("1,2,0\n3,4,2.0000001\n", "label.csv:2:3: label '2.0000001' is not a class index"),
            // pandas' to_csv of unnamed columns and a named text label: read as data, the header
            // became a class of its own and renumbered the others.
            (
                "0,1,species\n1,2,setosa\n3,4,versicolor\n",
                "pandasnames.csv:1: the first row 0,1,species may be pandas' column names (0, 1, ... and 'species') or data"
            ),
            ("1,2,0\nnan,2,1\n", "nan.csv:2:1: 'nan' is not a finite number (a missing value?"),
            ("1,2,0\n3,-inf,1\n", "inf.csv:2:2: '-inf' is not a finite number"),
            ("1,2,0\n3,4,20000001\n", "biglabel.csv:2:3: label '20000001' is not a class index (at most 16777216"),
        ]
        for (text, message) in cases {
            let name = String(message.prefix { $0 != ":" })
            let path = try temporaryFile(name, Array(text.utf8))
            assertError("csv", [message]) { _ = try Dataset.csv(path: path) }
        }
        // Said outright, the ambiguous first rows load either way.
        let bare = try temporaryFile("bare2.csv", Array("0,1,2\n1,2,0\n".utf8))
        XCTAssertEqual(try Dataset.csv(path: bare, header: true).count, 1)
        XCTAssertEqual(try Dataset.csv(path: bare, header: false).count, 2)
    }

    func testCSVTargetByNameOrIndexFindsTheSameColumn() throws {
        let byDefault = try Dataset.csv(path: path("iris_like.csv"))
        for target in [Dataset.Column.named("label"), .index(3), .index(-1)] {
            let data = try Dataset.csv(path: path("iris_like.csv"), target: target)
            XCTAssertEqual(data.x, byDefault.x, "\(target)")
            XCTAssertEqual(data.y, byDefault.y, "\(target)")
        }
        let explicit = try Dataset.csv(path: path("iris_like.csv"), header: true)
        XCTAssertEqual(explicit.y, byDefault.y)
    }

    func testCSVWithNumericLabelsAndNoHeader() throws {
        let data = try Dataset.csv(path: path("numbers.csv"))
        let features = try expected("numbers.csv", "features")
        XCTAssertEqual(data.x.shape, features.shape)
        assertClose(data.x.scalars, features.scalars, "numbers features")
        XCTAssertEqual(data.y, try expected("numbers.csv", "labels"))
        XCTAssertEqual(data.classes, 3)
        XCTAssertNil(data.classNames)
    }

    func testCSVFieldCountErrorNamesFileAndLine() throws {
        let error = try XCTUnwrap(try entry("bad_row.csv")["error"] as? [String: Any])
        let (line, found, want) = (
            error["line"] as? Int ?? 0, error["fields"] as? Int ?? 0, error["expected_fields"] as? Int ?? 0
        )
        assertError("csv", ["bad_row.csv:\(line): expected \(want) fields, found \(found)"]) {
            _ = try Dataset.csv(path: path("bad_row.csv"))
        }
    }

    func testCSVNonNumberErrorNamesFileLineAndColumn() throws {
        let error = try XCTUnwrap(try entry("bad_value.csv")["error"] as? [String: Any])
        let (line, column, value) = (error["line"] as? Int ?? 0, error["column"] as? Int ?? 0, error["value"] as? String ?? "")
        assertError("csv", ["bad_value.csv:\(line):\(column): '\(value)' is not a number"]) {
            _ = try Dataset.csv(path: path("bad_value.csv"))
        }
    }

    func testCSVHeaderFalseReadsTheHeaderRowAsData() throws {
        assertError("csv", ["iris_like.csv:1:1: 'a' is not a number"]) {
            _ = try Dataset.csv(path: path("iris_like.csv"), header: false)
        }
    }

    func testCSVUnknownTargetColumn() throws {
        assertError("csv", ["iris_like.csv", "no column named 'species'", "a, b, c, label"]) {
            _ = try Dataset.csv(path: path("iris_like.csv"), target: .named("species"))
        }
        assertError("csv", ["numbers.csv", "target column 4 is out of range for 4 columns"]) {
            _ = try Dataset.csv(path: path("numbers.csv"), target: .index(4))
        }
    }

    func testCSVNumericLabelsMustBeWholeAndNotNegative() throws {
        // Column 1 of numbers.csv holds fractions such as 1.5937861.
        assertError("csv", ["numbers.csv:1:1: label '1.5937861' is not a class index"]) {
            _ = try Dataset.csv(path: path("numbers.csv"), target: .index(0))
        }
        let negative = try temporaryFile("negative.csv", Array("1,2,0\n3,4,-1\n".utf8))
        assertError("csv", ["negative.csv:2:3: label '-1' is not a class index"]) { _ = try Dataset.csv(path: negative) }
    }

    func testCSVAcceptsCRLFQuotesBlankLinesAndAByteOrderMark() throws {
        let text = "\u{FEFF}\"x one\", x2 ,\"kind, of\"\r\n1, 2,\"a, b\"\r\n\r\n3,4,c\r\n5,6,\"a, b\"\r\n"
        let data = try Dataset.csv(path: temporaryFile("quoted.csv", Array(text.utf8)), target: .named("kind, of"))
        XCTAssertEqual(data.x, try Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]))
        XCTAssertEqual(data.y.scalars, [0, 1, 0])
        XCTAssertEqual(data.classNames, ["a, b", "c"])
    }

    /// A file that is not UTF-8 is refused where it is not (two Latin-1 labels decoded to one
    /// replacement character and became one class); a file whose lines end in a lone \r (old Mac
    /// files) reads as Python's csv module reads it; a target named where the first row is data
    /// says so.
    func testCSVRefusesLatin1AndReadsLoneCarriageReturns() throws {
        let latin1 = try temporaryFile(
            "latin1.csv", Array("x,label\n1,caf".utf8) + [0xE9] + Array("\n2,caf".utf8) + [0xE8, 0x0A])
        assertError("csv", ["latin1.csv:2:6: the file is not UTF-8 text (byte 0xE9)"]) { _ = try Dataset.csv(path: latin1) }
        let mac = try Dataset.csv(path: temporaryFile("mac.csv", Array("a,b,label\r1,2,0\r3,4,1\r".utf8)))
        XCTAssertEqual(mac.x, try Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))
        XCTAssertEqual(mac.y.scalars, [0, 1])
        let data = try temporaryFile("data.csv", Array("1,2,0\n3,4,1\n".utf8))
        assertError("csv", ["target 'label' names a column, but the first row (1, 2, 0) is data, not a header"]) {
            _ = try Dataset.csv(path: data, target: .named("label"))
        }
    }

    /// A quoted field may hold line ends, as Python's csv module reads it (`csv.reader` gives these
    /// rows); an error after such a row names the line it is on, and a quote that never closes is
    /// refused at the row it opens in (Python's csv swallows the rest of the file into the field).
    func testCSVQuotedFieldsSpanLines() throws {
        let text = "x,label\n1,\"two\nlines\"\n2,\"a \"\"b\"\"\"\r\n3,\"crlf\r\ninside\"\n4,x\"y\n5,\"two\nlines\"\n"
        let data = try Dataset.csv(path: temporaryFile("lines.csv", Array(text.utf8)))
        XCTAssertEqual(data.x.scalars, [1, 2, 3, 4, 5])
        XCTAssertEqual(data.classNames, ["a \"b\"", "crlf\r\ninside", "two\nlines", "x\"y"])
        XCTAssertEqual(data.y.scalars, [2, 0, 1, 3, 2])
        let wide = try temporaryFile("wide.csv", Array("x,label\n1,\"a\nb\"\n2,3,4\n".utf8))
        assertError("csv", ["wide.csv:4: expected 2 fields, found 3"]) { _ = try Dataset.csv(path: wide) }
        // A quote after a closed quoted field opens nothing (the row's end and its fields agree):
        // Python's csv reads `"" "b` as one field and the row below as a row of its own.
        let after = try Dataset.csv(path: temporaryFile("after.csv", Array("x,label\n1,\"\" \"b\n2,c\n".utf8)))
        XCTAssertEqual(after.x.scalars, [1, 2])
        XCTAssertEqual(after.classNames, ["\"b", "c"])
        let open = try temporaryFile("open.csv", Array("x,label\n1,0\n2,\"a\n3,b\n".utf8))
        assertError("csv", ["open.csv:3: a double-quoted field opens in this row and is not closed before the end of the file"]) {
            _ = try Dataset.csv(path: open)
        }
    }

    /// Labels are told apart and sorted by code point, as Python's set and sorted take them: "été"
    /// written with a combining accent is another class than "été" precomposed (Swift's String
    /// equality made them one), and both sort as their first code point says.
    func testCSVLabelsAreCodePoints() throws {
        let decomposed = "e\u{301}t\u{E9}"
        let text = "x,label\n1,\u{E9}t\u{E9}\n2,f\n3,\(decomposed)\n4,\u{E9}t\u{E9}\n"
        let data = try Dataset.csv(path: temporaryFile("accents.csv", Array(text.utf8)))
        XCTAssertEqual(data.classes, 3)
        XCTAssertEqual(
            data.classNames?.map { $0.unicodeScalars.map(\.value) },
            [[0x65, 0x301, 0x74, 0xE9], [0x66], [0xE9, 0x74, 0xE9]])
        XCTAssertEqual(data.y.scalars, [2, 1, 0, 2])
    }

    func testCSVMissingFile() {
        assertError("csv", ["cannot read '/no/such/dir/x.csv'"]) { _ = try Dataset.csv(path: "/no/such/dir/x.csv") }
    }

    // MARK: IDX

    func testIDXPlainAndGzippedImagesAndLabels() throws {
        for (images, labels) in [("images.idx3-ubyte", "labels.idx1-ubyte"), ("images.idx3-ubyte.gz", "labels.idx1-ubyte.gz")] {
            let data = try Dataset.idx(images: path(images), labels: path(labels))
            XCTAssertEqual(data.x, try expected(images), images)
            XCTAssertEqual(data.y, try expected(labels), labels)
            XCTAssertEqual(data.classes, 10, "the largest label is 9")
            XCTAssertEqual(data.name, "images")
        }
        XCTAssertEqual(try IDX.read(path: path("labels.idx1-ubyte")).shape, [6])
    }

    func testTruncatedIDXSaysHowManyImagesTheFileHolds() throws {
        let error = try XCTUnwrap(try entry("truncated.idx3-ubyte")["error"] as? [String: Any])
        let complete = error["complete_images"] as? Int ?? -1
        assertError("idx", ["truncated.idx3-ubyte", "header says 6 images of 4×5 but the file holds \(complete)"]) {
            _ = try Dataset.idx(images: path("truncated.idx3-ubyte"), labels: path("labels.idx1-ubyte"))
        }
    }

    func testIDXRejectsBadMagicAndDisagreeingCounts() throws {
        let text = try temporaryFile("notes.txt", Array("hello, world\n".utf8))
        assertError("idx", ["notes.txt", "bad magic number 0x68656c6c"]) { _ = try IDX.read(path: text) }
        let fiveLabels = try temporaryFile("five.idx1-ubyte", [0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3, 4, 5])
        assertError("idx", ["images.idx3-ubyte holds 6 images", "five.idx1-ubyte holds 5 labels"]) {
            _ = try Dataset.idx(images: path("images.idx3-ubyte"), labels: fiveLabels)
        }
        assertError("idx", ["cannot read 'missing.idx'"]) { _ = try IDX.read(path: "missing.idx") }
    }

    // MARK: NPY

    func testNPYFilesOfEveryFixtureDtypeAndOrder() throws {
        for file in ["f32_c.npy", "f64.npy", "i64.npy", "f32_fortran.npy", "f32_bigendian.npy", "f32_v2.npy"] {
            let array = try NPY.read(path: path(file))
            let want = try expected(file)
            XCTAssertEqual(array.shape, want.shape, file)
            assertClose(array.scalars, want.scalars, rtol: 1e-7, atol: 0, file)
        }
    }

    func testNPYErrors() throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path("f32_c.npy"))))
        let notNPY = try temporaryFile("plain.npy", Array("not numpy".utf8))
        assertError("npy", ["plain.npy", "not a .npy file"]) { _ = try NPY.read(path: notNPY) }

        let truncated = try temporaryFile("short.npy", Array(original.dropLast(8)))
        assertError("npy", ["short.npy", "needs 48 data bytes but 40 follow the 128-byte header", "truncated"]) {
            _ = try NPY.read(path: truncated)
        }

        /// f32_c.npy with a same-length edit to its 128-byte header (the data bytes untouched).
        func replacingHeader(_ old: String, with new: String) -> [UInt8] {
            precondition(old.utf8.count == new.utf8.count)
            // The 10-byte preamble is not UTF-8 (it starts with 0x93), so only the dictionary is edited as text.
            let header = String(decoding: original[10..<128], as: UTF8.self)
            return Array(original.prefix(10)) + Array(header.replacingOccurrences(of: old, with: new).utf8)
                + original.dropFirst(128)
        }
        let complex = try temporaryFile("complex.npy", replacingHeader("'<f4'", with: "'<c8'"))
        assertError("npy", ["complex.npy", "dtype '<c8' is not supported"]) { _ = try NPY.read(path: complex) }

        let malformed = try temporaryFile("malformed.npy", replacingHeader("(3, 4)", with: "(3; 4)"))
        assertError("npy", ["malformed.npy", "malformed header", "expected ')'"]) { _ = try NPY.read(path: malformed) }

        let unknownVersion = try temporaryFile("v9.npy", Array(original.prefix(6)) + [9, 0] + Array(original.dropFirst(8)))
        assertError("npy", ["v9.npy", "version 9.0 is not supported"]) { _ = try NPY.read(path: unknownVersion) }
    }

    /// A header of ten thousand `(` is an error naming the file and the depth, not a stack overflow.
    func testNPYHeaderNestedDeeplyIsAnErrorNotAStackOverflow() throws {
        for (version, depth) in [(1, 10_000), (2, 1_000_000)] {
            let header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': ".utf8) + [UInt8](repeating: 40, count: depth)
            let length =
                version == 1
                ? [UInt8(header.count & 0xff), UInt8(header.count >> 8)]
                : withUnsafeBytes(of: UInt32(header.count).littleEndian) { Array($0) }
            let file = try temporaryFile(
                "deep\(version).npy", [0x93] + Array("NUMPY".utf8) + [UInt8(version), 0] + length + header)
            assertError("npy", ["deep\(version).npy", "malformed header", "brackets nest more than 200 deep"]) {
                _ = try NPY.read(path: file)
            }
        }
    }

    /// A float64 beyond float32's range is an error naming it, where 1e40 became inf silently;
    /// integers convert to the nearest float32, as torch.from_numpy(a).float() converts them.
    func testNPYFloat64BeyondFloat32IsRefused() throws {
        func npy(_ name: String, _ descr: String, _ values: [UInt64]) throws -> String {
            var header = Array("{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(values.count),), }".utf8)
            header += [UInt8](repeating: 32, count: (64 - (10 + header.count + 1) % 64) % 64) + [10]
            let data = values.flatMap { withUnsafeBytes(of: $0.littleEndian) { Array($0) } }
            let length = [UInt8(header.count & 0xff), UInt8(header.count >> 8)]
            return try temporaryFile(name, [0x93] + Array("NUMPY".utf8) + [1, 0] + length + header + data)
        }
        let big = try npy("f64.npy", "<f8", [Double(1).bitPattern, Double(1e40).bitPattern])
        assertError("npy", ["f64.npy: the value 1e+40 (element 1 in storage order) does not fit a float32", "become inf"]) {
            _ = try NPY.read(path: big)
        }
        let fine = try npy("fine.npy", "<f8", [Double(3.3e38).bitPattern, Double(1e-50).bitPattern, Double.infinity.bitPattern])
        XCTAssertEqual(try NPY.read(path: fine).scalars, [3.3e38, 0, .infinity])
        let ids = try npy("i64.npy", "<i8", [3, (1 << 40) + 1])
        XCTAssertEqual(try NPY.read(path: ids).scalars, [3, 1_099_511_627_776])
    }

    func testNPYWriteThenReadGivesTheSameTensor() throws {
        let folder = try temporaryDirectory()
        for original in [
            Tensor(2.5), Tensor([1, -2, 3]), try Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float($0) / 7 }),
        ] {
            let file = folder.appendingPathComponent("rank\(original.rank).npy").path
            try NPY.write(original, to: file)
            XCTAssertEqual(try NPY.read(path: file), original)
            let size = try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int ?? 0
            XCTAssertEqual(size, 128 + 4 * original.count, "the header pads the data to 64-byte alignment")
        }
    }
}
