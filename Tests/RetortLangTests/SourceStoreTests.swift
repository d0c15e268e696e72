import XCTest

@testable import RetortLang

/// A long session keeps a bounded number of cell sources, and the lines its functions' errors quote.
final class SourceStoreTests: XCTestCase {
    func testThousandsOfCellsKeepABoundedStoreAndTheFunctionsLines() {
        let session = Session(sink: CollectingSink())
        _ = session.execute("fn bad(x) = x @ zeros([7, 7])")
        for i in 0..<2_500 { _ = session.execute("\(i) + 1") }
        XCTAssertLessThanOrEqual(session.interpreter.sources.count, 2_000)
        guard case .failure(let d) = session.execute("bad(zeros([2, 3]))") else { return XCTFail("a shape error") }
        let text = session.render(d)
        XCTAssertTrue(text.contains("fn bad(x) = x @ zeros([7, 7])"), text)
        XCTAssertTrue(text.contains("bad(zeros([2, 3]))"), text)
    }
}
