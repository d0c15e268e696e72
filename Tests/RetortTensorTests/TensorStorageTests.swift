import XCTest

@testable import RetortTensor

/// Where a tensor's values start: on a 64-byte cache line (`TensorStorage.alignment`), for every
/// way a tensor is made and for the copy a write to a shared one makes (malloc alone gives 16).
final class TensorStorageTests: XCTestCase {
    func testValuesStartOnACacheLine() throws {
        var state: UInt64 = 5
        var made: [(String, Tensor)] = []
        for count in [1, 3, 17, 1000, 1 << 20] {
            made.append(("repeating \(count)", Tensor(shape: [count])))
            made.append(("scalars \(count)", try Tensor(shape: [count], scalars: uniformValues(count, &state))))
        }
        made.append(("scalar", Tensor(2.5)))
        made.append(("uninitialized", Tensor(shape: [5, 7]) { $0.initialize(repeating: 1) }))
        var written = made[3].1
        XCTAssertTrue(made[3].0.hasPrefix("scalars"))
        let shared = written
        written.withUnsafeMutableBufferPointer { $0[0] = 7 }
        made.append(("copied before a write", written))
        XCTAssertNotEqual(shared.storage.pointer, written.storage.pointer)
        for (what, tensor) in made {
            let address = UInt(bitPattern: tensor.storage.pointer)
            XCTAssertEqual(address % 64, 0, "\(what): at \(address % 64) past a line")
        }
    }
}
