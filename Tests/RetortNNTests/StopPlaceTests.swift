import RetortNN
import RetortTensor
import XCTest

/// Where a stopped run says it stopped: the interrupt check between batches, an error in a batch's
/// loss, an error after an epoch's batches; the error, the history and the live display's last
/// event say the same place.
final class StopPlaceTests: XCTestCase {
    final class Seeds: RandomSource {
        var generator = RandomGenerator(seed: 3)
    }

    struct Failure: Error {}

    /// A 4-example, 2-class problem in batches of 2: two batches per epoch, three epochs.
    func trainer(failing: ((Trainer.Batch) -> Bool)? = nil) throws -> (Trainer, Recorder) {
        var g = RandomGenerator(seed: 1)
        let model = Sequential([Linear(2, 2, generator: &g)])
        let data = try Dataset(
            x: Tensor(shape: [4, 2], scalars: [0, 1, 1, 0, 1, 1, 0, 0]), y: Tensor([0, 1, 1, 0]), classes: 2, name: "four")
        let trainer = Trainer(
            task: "fit m", model: model, data: data, settings: TrainingSettings(epochs: 3, batchSize: 2),
            optimizer: PlainOptimizer(try SGD(model.parameters, learningRate: 0.1))
        ) { batch in
            if let failing, failing(batch) { throw Failure() }
            let output = try model(batch.x)
            return Trainer.Step(loss: try Loss.crossEntropy(output, target: Variable(batch.y)), output: output)
        }
        let recorder = Recorder()
        trainer.onEvent = { recorder.events.append($0) }
        return (trainer, recorder)
    }

    final class Recorder { var events: [TrainingEvent] = [] }

    /// A checkpoint that says it reached an epoch (restoring nothing) and refuses to be saved.
    struct Saved: TrainingCheckpoint {
        var reached: Int?
        var failsToSave = false
        var every: Int { 1 }
        func resume(into history: History, generator: inout RandomGenerator) throws -> Int? { reached }
        func save(epoch: Int, history: History, generator: RandomGenerator) throws { if failsToSave { throw Failure() } }
    }

    /// Stops at the `poll`-th check between batches (from 1).
    func interrupted(atPoll poll: Int, resumingAfter reached: Int? = nil) throws -> (
        place: String, holds: TrainingError.Holds, trainer: Trainer, events: [TrainingEvent]
    ) {
        let (trainer, recorder) = try trainer()
        if let reached { trainer.checkpoint = Saved(reached: reached) }
        var polls = 0
        trainer.shouldStop = {
            polls += 1
            return polls == poll
        }
        do {
            _ = try trainer.run(name: "m", random: Seeds(), resume: reached != nil)
        } catch TrainingError.interrupted(let place, let holds) {
            return (place, holds, trainer, recorder.events)
        }
        XCTFail("the run was not interrupted")
        return ("", .unchanged, trainer, [])
    }

    func testAnInterruptNamesTheLastCompletedBatch() throws {
        let run = try interrupted(atPoll: 2)
        XCTAssertEqual(run.place, "in epoch 1 of 3, after batch 1 of 2")
        XCTAssertEqual(run.holds.said(of: "m"), "m keeps the weights of the last completed batch")
        XCTAssertEqual(run.trainer.history?.stoppedAt, run.place)
        XCTAssertEqual(run.events.last?.phase, .interrupted)
        XCTAssertEqual(run.events.last?.place, run.place)
    }

    func testAnInterruptAtAnEpochsStartNamesTheEpochBefore() throws {
        // Was "epoch 2 of 3, after batch 0 of 2".
        let run = try interrupted(atPoll: 3)
        XCTAssertEqual(run.place, "after epoch 1 of 3")
        XCTAssertEqual(run.holds.said(of: "m"), "m keeps the weights of the last completed batch")
        XCTAssertEqual(run.trainer.history?.epochs, [1])
        XCTAssertEqual(run.events.last?.place, run.place)
    }

    func testAnInterruptBeforeTheFirstBatchSaysNothingTrained() throws {
        let run = try interrupted(atPoll: 1)
        XCTAssertEqual(run.place, "before the first batch of epoch 1 of 3")
        XCTAssertEqual(run.holds.said(of: "m"), "m is unchanged")
    }

    func testAResumedRunInterruptedBeforeItsFirstBatchHoldsTheCheckpoints() throws {
        // Said "m is unchanged" though the checkpoint's weights had replaced m's.
        let run = try interrupted(atPoll: 1, resumingAfter: 2)
        XCTAssertEqual(run.place, "after epoch 2 of 3")
        XCTAssertEqual(run.holds.said(of: "m"), "m holds the checkpoint's weights (after epoch 2)")
    }

    func testAnErrorInALossEndsTheLiveDisplayWhereTheErrorSays() throws {
        let (trainer, recorder) = try trainer(failing: { $0.epoch == 2 && $0.index == 1 })
        XCTAssertThrowsError(try trainer.run(name: "m", random: Seeds())) { XCTAssertTrue($0 is Failure) }
        XCTAssertEqual(trainer.stoppedAt, "in epoch 2 of 3, at batch 2 of 2")
        XCTAssertEqual(trainer.history?.stoppedAt, trainer.stoppedAt)
        XCTAssertEqual(recorder.events.last?.phase, .stopped)
        XCTAssertEqual(recorder.events.last?.place, trainer.stoppedAt)
    }

    func testAnErrorAtTheFirstBatchStillEndsTheLiveDisplay() throws {
        let (trainer, recorder) = try trainer(failing: { _ in true })
        XCTAssertThrowsError(try trainer.run(name: "m", random: Seeds()))
        XCTAssertNil(trainer.stoppedAt, "nothing trained: no place to report in the note")
        XCTAssertEqual(recorder.events.last?.phase, .stopped)
        XCTAssertEqual(recorder.events.last?.place, "in epoch 1 of 3, at batch 1 of 2")
    }

    func testAnErrorInValidationSaysItCameAfterTheEpochsBatches() throws {
        // The history and the note named no place, though the epoch's batches had trained.
        let (trainer, recorder) = try trainer()
        trainer.validation = trainer.data
        trainer.validationLoss = { _, _ in throw Failure() }
        XCTAssertThrowsError(try trainer.run(name: "m", random: Seeds()))
        XCTAssertEqual(recorder.events.last?.phase, .stopped)
        XCTAssertEqual(recorder.events.last?.place, "at the end of epoch 1 of 3, after its batches")
        XCTAssertEqual(recorder.events.last?.batch, 2, "both batches of the epoch completed")
        XCTAssertEqual(trainer.stoppedAt, "at the end of epoch 1 of 3, after its batches")
        XCTAssertEqual(trainer.history?.stoppedAt, trainer.stoppedAt)
    }

    func testAnErrorSavingACheckpointSaysItCameAfterTheEpochsBatches() throws {
        let (trainer, _) = try trainer()
        trainer.checkpoint = Saved(reached: nil, failsToSave: true)
        XCTAssertThrowsError(try trainer.run(name: "m", random: Seeds()))
        XCTAssertEqual(trainer.stoppedAt, "at the end of epoch 1 of 3, after its batches")
    }

    func testANaNLossNamesItsPlaceInTheHistory() throws {
        var calls = 0
        let (trainer, _) = try trainer()
        let nan = Trainer(
            task: "fit m", model: trainer.model, data: trainer.data, settings: trainer.settings, optimizer: trainer.optimizer
        ) { batch in
            calls += 1
            let output = try trainer.model(batch.x)
            let loss = try Loss.crossEntropy(output, target: Variable(batch.y))
            return Trainer.Step(loss: calls == 3 ? loss * Float.nan : loss, output: output)
        }
        XCTAssertThrowsError(try nan.run(name: "m", random: Seeds())) {
            guard case TrainingError.nonFiniteLoss = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(nan.history?.stoppedAt, "in epoch 2 of 3, at batch 1 of 2")
    }
}
