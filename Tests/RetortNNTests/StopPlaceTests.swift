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

    /// Stops at the `poll`-th check between batches (from 1).
    func interrupted(atPoll poll: Int) throws -> (place: String, trained: Bool, trainer: Trainer, events: [TrainingEvent]) {
        let (trainer, recorder) = try trainer()
        var polls = 0
        trainer.shouldStop = {
            polls += 1
            return polls == poll
        }
        do {
            _ = try trainer.run(name: "m", random: Seeds())
        } catch TrainingError.interrupted(let place, let trained) {
            return (place, trained, trainer, recorder.events)
        }
        XCTFail("the run was not interrupted")
        return ("", false, trainer, [])
    }

    func testAnInterruptNamesTheLastCompletedBatch() throws {
        let run = try interrupted(atPoll: 2)
        XCTAssertEqual(run.place, "in epoch 1 of 3, after batch 1 of 2")
        XCTAssertTrue(run.trained)
        XCTAssertEqual(run.trainer.history?.stoppedAt, run.place)
        XCTAssertEqual(run.events.last?.phase, .interrupted)
        XCTAssertEqual(run.events.last?.place, run.place)
    }

    func testAnInterruptAtAnEpochsStartNamesTheEpochBefore() throws {
        // Was "epoch 2 of 3, after batch 0 of 2".
        let run = try interrupted(atPoll: 3)
        XCTAssertEqual(run.place, "after epoch 1 of 3")
        XCTAssertTrue(run.trained)
        XCTAssertEqual(run.trainer.history?.epochs, [1])
        XCTAssertEqual(run.events.last?.place, run.place)
    }

    func testAnInterruptBeforeTheFirstBatchSaysNothingTrained() throws {
        let run = try interrupted(atPoll: 1)
        XCTAssertEqual(run.place, "before the first batch of epoch 1 of 3")
        XCTAssertFalse(run.trained)
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

    func testAnErrorAfterAnEpochsBatchesSaysSo() throws {
        let (trainer, recorder) = try trainer()
        trainer.validation = trainer.data
        trainer.validationLoss = { _, _ in throw Failure() }
        XCTAssertThrowsError(try trainer.run(name: "m", random: Seeds()))
        XCTAssertEqual(recorder.events.last?.phase, .stopped)
        XCTAssertEqual(recorder.events.last?.place, "at the end of epoch 1 of 3, after its batches")
    }
}
