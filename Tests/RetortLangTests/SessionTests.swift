import Foundation
import RetortTensor
import XCTest

@testable import RetortLang

final class SessionTests: XCTestCase {
    func testBindingsSurviveErrorsAcrossCells() {
        let session = Session(sink: CollectingSink())
        _ = session.execute("let model = mlp([4, 8, 2])\nlet n = 3")
        guard case .failure = session.execute("let n = 5\nmodel(zeros([1, 3]))") else { return XCTFail("shape error expected") }
        guard case .success(let v) = session.execute("n"), case .number(let n)? = v else { return XCTFail("n should be bound") }
        XCTAssertEqual(n, 5, "statements before the error ran; the session keeps them")
        guard case .success(let out) = session.execute("model(zeros([1, 4])).shape"), case .list(let dims)? = out else {
            return XCTFail("the model should still work")
        }
        XCTAssertEqual(dims.count, 2)
    }

    /// Shapes of programs that crashed the process (a signal, the session lost) stop with an error or
    /// run: a chain of 100,000 closures, each holding the one before, is freed one at a time (freed by
    /// recursion, 30,000 ran the stack out); a generated `else if` chain of 20,000 stops at the parser's
    /// depth limit (it recursed without one).
    func testLongChainsOfClosuresAndElseIfsDoNotCrash() {
        let session = Session(sink: CollectingSink())
        guard case .success = session.execute("let f = fn(x) = x\nfor i in 0..<100000 { let g = f; f = fn(x) = g(x) }\nf = 0")
        else { return XCTFail("freeing the chain should run") }
        guard case .success(let kept) = session.execute("f + 1"), case .number(1)? = kept else {
            return XCTFail("the session carries on")
        }
        let chain = "let x = 0\n" + (0..<20000).map { "if x == \($0) { 1 } else " }.joined() + "{ 2 }"
        guard case .failure(let d) = session.execute(chain) else { return XCTFail("the chain should be refused") }
        XCTAssertTrue(d.first?.message.contains("nested too deeply") ?? false, "\(d)")
        let short = "let y = 3\n" + (0..<500).map { "if y == \($0) { \($0) } else " }.joined() + "{ -1 }"
        guard case .success(let three) = session.execute(short), case .number(3)? = three else {
            return XCTFail("a chain of 500 runs")
        }
    }

    /// A string doubled in a loop stops at the string budget with an error naming the size; a list nested in
    /// itself the same way costs nothing to hold, and its text stops at a million characters.
    func testDoublingAStringOrAListStopsWellBeforeMemoryRunsOut() {
        let saved = MemoryBudget.maximumBytes
        MemoryBudget.maximumBytes = 16 << 20
        defer { MemoryBudget.maximumBytes = saved }
        let session = Session(sink: CollectingSink())
        guard case .failure(let d) = session.execute("let s = \"a\"\nwhile true { s = s + s }") else {
            return XCTFail("the string should have been refused")
        }
        XCTAssertEqual(
            d.first?.message,
            "'+' would make a string of 8388608 bytes, more than the 4.0 MiB a string may hold (RETORT_MAX_TENSOR_BYTES / 4)")
        guard case .success(let n) = session.execute("len(s)"), case .number(let length)? = n else {
            return XCTFail("s is kept at its last size")
        }
        XCTAssertEqual(length, 4_194_304)

        guard case .success(let text) = session.execute("let l = [\"a\"]\nfor i in 0..<60 { l = [l, l] }\nstr(l)"),
            case .string(let shown)? = text
        else { return XCTFail("str of a list nested 60 deep") }
        XCTAssertTrue(shown.hasPrefix("[[[[") && shown.hasSuffix("…"), String(shown.suffix(20)))
        XCTAssertLessThan(shown.utf8.count, (1 << 20) + 100)
    }

    private static var bigCSVPath: String {
        FileManager.default.temporaryDirectory.appendingPathComponent("retort-big-\(getpid()).csv").path
    }

    /// Removes the file `bigCSV` wrote, once every test of the class has run.
    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: bigCSVPath)
        super.tearDown()
    }

    /// A CSV file of 300,000 rows (about 3 s to parse in a debug build), written once.
    func bigCSV() throws -> String {
        let path = Self.bigCSVPath
        if !FileManager.default.fileExists(atPath: path) {
            var text = "a,b,label\n"
            for i in 0..<300_000 { text += "\(i % 97),\(i % 89),\(i % 3)\n" }
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        return path
    }

    /// Recursion stops with an error before the stack runs out, on a thread whose stack is far
    /// smaller than the main thread's 8 MB (the bound of 400 calls alone crashed a debug build at
    /// 250 on the main thread); the session and its bindings are still there afterwards.
    func testDeepRecursionOnASmallStackIsAnErrorNotACrash() {
        final class Outcome: @unchecked Sendable {
            var message: String?
            var important: Double?
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let session = Session(sink: CollectingSink())
            _ = session.execute("let important = 42")
            if case .failure(let d) = session.execute("fn f(n) = if n == 0 { 0 } else { 1 + f(n - 1) }\nf(400)") {
                outcome.message = d.first?.message
            }
            if case .success(.number(let n)?) = session.execute("important") { outcome.important = n }
            done.signal()
        }
        thread.stackSize = 2 << 20
        thread.start()
        done.wait()
        let message = outcome.message ?? "no error"
        XCTAssertTrue(message.contains("the stack nearly used up"), message)
        XCTAssertEqual(outcome.important, 42)
    }

    /// Deep recursion's traceback shows each repeated call once with a count (Python's "[Previous
    /// line repeated N more times]"); it once printed every frame, over a thousand lines.
    func testRepeatedFramesInATracebackAreCounted() {
        let session = Session(sink: CollectingSink())
        guard case .failure(let d) = session.execute("fn down(n) = if n == 0 { nope } else { down(n - 1) }\ndown(50)") else {
            return XCTFail("no error")
        }
        let text = session.render(d)
        XCTAssertTrue(text.contains("[the call above repeated 49 more times]"), text)
        XCTAssertLessThan(text.split(separator: "\n").count, 15, text)
    }

    /// `:load` reads a path as a shell would: quotes around it dropped (a path with a space), and
    /// `~/` as the home folder; it looked for a file whose name held the quotes.
    func testLoadTakesAQuotedPathAndTheHomeFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retort load \(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("my run.rt")
        try Data("let loaded = 42\n".utf8).write(to: file)
        let session = Session(sink: CollectingSink())
        for quote in ["\"", "'"] {
            _ = session.execute("let loaded = 0")
            guard case .done(.success?) = session.runCommand(":load \(quote)\(file.path)\(quote)") else {
                return XCTFail("\(quote)-quoted path not loaded")
            }
            guard case .success(.number(let n)?) = session.execute("loaded") else { return XCTFail("loaded unbound") }
            XCTAssertEqual(n, 42)
        }
        guard case .refused(let message) = session.runCommand(":load ~/retort-no-such-file-\(UUID().uuidString).rt") else {
            return XCTFail("a missing file must be refused")
        }
        XCTAssertTrue(message.contains(NSHomeDirectory()), message)
    }

    func testInterruptStopsExponentialRecursionAnEndlessLoopAndALongBuiltin() throws {
        let session = Session(sink: CollectingSink())
        _ = session.execute("fn f(n) = if n == 0 { 0 } else { f(n - 1) + f(n - 1) }\nlet kept = 7")
        for code in [
            "f(40)", "let s = 0\nfor i in 1..3000000000 { s = s + i }", "blobs(n: 100000000)",
            "ones([6000, 6000]) @ ones([6000, 6000])", "csv(\"\(try bigCSV())\")",
        ] {
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { session.interrupt() }
            let started = Date()
            let outcome = session.execute(code)
            XCTAssertLessThan(Date().timeIntervalSince(started), 5, code)
            guard case .failure(let d) = outcome else { return XCTFail("\(code) should have been interrupted") }
            XCTAssertEqual(d.first?.kind, .interrupted, code)
        }
        guard case .success(let v) = session.execute("kept"), case .number(let n)? = v else { return XCTFail("kept") }
        XCTAssertEqual(n, 7, "the session keeps its bindings after an interrupt")
    }

    func testInterruptStopsTrainingBetweenBatchesAndKeepsTheModel() {
        let sink = CollectingSink()
        let session = Session(sink: sink)
        _ = session.execute("let data = blobs(n: 2000)\nlet m = mlp([2, 64, 64, 3])")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { session.interrupt() }
        let started = Date()
        let outcome = session.execute("fit(m, data, epochs: 100000, batch: 8)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5)
        guard case .failure(let d) = outcome else { return XCTFail("fit should have been interrupted") }
        XCTAssertEqual(d.first?.kind, .interrupted)
        XCTAssertTrue(d.first?.message.hasPrefix("fit m interrupted ") ?? false, d.first?.message ?? "")
        XCTAssertEqual(
            sink.events.last?.place.map { "fit m interrupted \($0); m keeps the weights of the last completed batch" },
            d.first?.message)
        XCTAssertEqual(sink.events.last?.phase, .interrupted)
        guard case .success(let acc) = session.execute("accuracy(m, data)"), case .number(let a)? = acc else {
            return XCTFail("the model must stay usable")
        }
        XCTAssertTrue(a.isFinite)
    }

    func testProgressIsReportedPerBatchAndEpoch() {
        let sink = CollectingSink()
        let session = Session(sink: sink)
        _ = session.execute("fit(mlp([2, 4, 3]), blobs(n: 100), epochs: 2, batch: 50)")
        XCTAssertEqual(sink.events.map(\.phase), [.started, .batch, .batch, .epoch, .batch, .batch, .epoch, .finished])
        XCTAssertEqual(sink.events.last?.epochs, 2)
        XCTAssertTrue(sink.text.isEmpty, "the language writes progress to the sink, never text")
    }

    func testHelpShowsTheDocEntry() {
        let sink = CollectingSink()
        let session = Session(sink: sink)
        _ = session.execute("help(split)")
        XCTAssertEqual(
            sink.text,
            "split(data: dataset or corpus, fraction: number in (0, 1), seed: whole number = 0)\n    A shuffled split of a dataset or corpus into (first part with `fraction` of the examples, the rest).\n    example: let (train, test) = split(digits(), 0.8, seed: 7)\n"
        )
        guard case .success(let v) = session.execute("source(kd)"), case .string(let text)? = v else { return XCTFail() }
        XCTAssertTrue(text.hasPrefix("fn kd(s, t, y, T = 4, alpha = 0.9) {"), text)
    }
}

final class BuiltinDocumentationTests: XCTestCase {
    func testEveryBuiltinHasASignatureALineAndAnExample() {
        let session = Session(sink: CollectingSink())
        let names = session.interpreter.knownNames
        var builtins = 0
        for name in names {
            guard case .function(.builtin(let b))? = session.interpreter.lookup(name) else { continue }
            builtins += 1
            XCTAssertTrue(b.signature.hasPrefix("\(name)("), name)
            XCTAssertFalse(b.summary.isEmpty, "\(name) has no summary")
            XCTAssertTrue(
                b.example.contains(name) || b.example.contains("for "), "\(name)'s example should show it: \(b.example)")
            XCTAssertFalse(b.summary.contains("\n"), "\(name)'s summary is one line")
        }
        XCTAssertGreaterThan(builtins, 80)
    }
}

/// The tensors backward() left gradients on, which the next step(opt, loss) updates, are held
/// weakly and only while they hold one: a loop of backward() on fresh tensors kept them all alive.
final class GradientsLeftTests: XCTestCase {
    func testALoopOfBackwardOnFreshTensorsKeepsNoneOfThem() throws {
        let session = Session(sink: CollectingSink())
        let code = """
            for i in 0..<200 {
              let u = tensor([1.0, 2.0], requires_grad: true)
              backward(sum(u * u))
            }
            let kept = tensor([3.0], requires_grad: true)
            backward(sum(kept))
            """
        guard case .success = session.execute(code) else { return XCTFail("the cell failed") }
        XCTAssertEqual(session.interpreter.gradientsLeft.count, 1)
        guard case .success = session.execute("zero_grad(kept)") else { return XCTFail("zero_grad failed") }
        XCTAssertEqual(session.interpreter.gradientsLeft.count, 0)
    }
}
