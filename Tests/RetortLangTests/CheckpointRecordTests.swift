import Foundation
import XCTest

@testable import RetortLang
@testable import RetortNN

/// What a checkpoint records of a run, against files an earlier Retort wrote and losses the
/// session rebinds: the same run resumes, another is refused.
final class CheckpointRecordTests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "retort-record-\(ProcessInfo.processInfo.processIdentifier)-\(name.hashValue)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    private func run(_ session: Session, _ code: String) -> String? {
        switch session.execute(code) {
        case .success: return nil
        case .failure(let diagnostics): return session.render(diagnostics)
        }
    }

    /// Rewrites the file's record as the Retort before this one wrote it: the weights as the tensor
    /// was shown, a loss argument equal to its default recorded, no layers.
    private func writeAsBefore(_ path: String, weights: String?, extra: [(String, String)]) throws {
        let contents = try SafeTensors.read(path: path)
        var metadata = try XCTUnwrap(contents.metadata)
        let text = try XCTUnwrap(metadata["run"])
        var record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String]])
        record.removeAll { $0.first == "weights" }
        if let weights { record.append(["weights", weights]) }
        record += extra.map { [$0.0, $0.1] }
        metadata["run"] = String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
        metadata["layers"] = nil
        try SafeTensors.write(contents.tensors, metadata: metadata, to: path)
    }

    func testAFileAnEarlierRetortSavedResumesTheSameRun() throws {
        let session = Session(sink: CollectingSink())
        let path = folder + "/weights.safetensors"
        let call = { (resume: Bool) in
            "let h = distill(mlp([2, 4, 3]), from: [t1, t2], weights: [1, 3], on: data, epochs: 1, T: 4, "
                + "checkpoint: \"\(path)\", resume: \(resume), quiet: true)"
        }
        XCTAssertNil(run(session, "let data = blobs(n: 60, seed: 3)\nlet t1 = mlp([2, 8, 3])\nlet t2 = mlp([2, 8, 3])"))
        XCTAssertNil(run(session, call(false)))
        try writeAsBefore(path, weights: "tensor([1, 3])  [2]", extra: [("loss argument T", "4")])
        XCTAssertNil(run(session, call(true)))
        // Another run is still refused, naming the difference as this Retort records it.
        try writeAsBefore(path, weights: "tensor([1, 1])  [2]", extra: [])
        let refused = run(session, call(true))
        XCTAssertTrue(refused?.contains("weights: equal there, [0.25, 0.75] here") ?? false, refused ?? "resumed")
        // Equal weights as written before are no weights.
        let equal = folder + "/equal.safetensors"
        XCTAssertNil(
            run(
                session,
                "let e = distill(mlp([2, 4, 3]), from: [t1, t2], on: data, epochs: 1, checkpoint: \"\(equal)\", quiet: true)"))
        try writeAsBefore(equal, weights: "tensor([1, 1])  [2]", extra: [])
        XCTAssertNil(
            run(
                session,
                "let f = distill(mlp([2, 4, 3]), from: [t1, t2], on: data, epochs: 1, checkpoint: \"\(equal)\", resume: true, quiet: true)"
            ))
    }

    /// The default loss is recorded by its code too: a `kd` of the session's with another default T
    /// is another run (both were recorded as "kd", and a resume went on with the other temperature).
    func testTheDefaultLossIsRecordedByItsCode() throws {
        let session = Session(sink: CollectingSink())
        let path = folder + "/kd.safetensors"
        let call =
            "let h = distill(mlp([2, 4, 3]), from: t, on: data, epochs: 1, checkpoint: \"\(path)\", resume: true, quiet: true)"
        XCTAssertNil(run(session, "let data = blobs(n: 60, seed: 3)\nlet t = mlp([2, 8, 3])"))
        XCTAssertNil(
            run(
                session,
                "fn kd(s, t, y, T = 2, alpha = 0.9) = alpha * T * T * kl_div(log_softmax(s / T), softmax(t / T)) + (1 - alpha) * cross_entropy(s, y)"
            ))
        XCTAssertNil(run(session, call))
        XCTAssertNil(
            run(
                session,
                "fn kd(s, t, y, T = 4, alpha = 0.9) = alpha * T * T * kl_div(log_softmax(s / T), softmax(t / T)) + (1 - alpha) * cross_entropy(s, y)"
            ))
        let refused = run(session, call)
        XCTAssertTrue(refused?.contains("was saved by another run (loss: ") ?? false, refused ?? "resumed")
    }
}
