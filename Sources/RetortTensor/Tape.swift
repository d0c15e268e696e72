/// Receives every primitive a forward pass computes while tracing is on: `RetortGraph`'s tracer
/// builds a `Graph` from these calls. Off (nil), which is always outside tracing, costs one branch
/// per operation and builds nothing.
public protocol TapeRecorder: AnyObject {
    /// A primitive produced `output` from `inputs`. `owner` is the layer that computed it when the
    /// values alone do not say (an int8 layer, whose weights are not variables), else nil.
    func record(_ op: Op, inputs: [Variable], output: Variable, owner: AnyObject?)
    /// A composite (layer norm, batch norm, attention) starts: the primitives until the matching
    /// `endGroup` compute it, and an exporter may emit the whole group as one node.
    func beginGroup(_ op: Op, inputs: [Variable], owner: AnyObject?)
    /// The composite begun last ended with `output`.
    func endGroup(output: Variable)
    /// The pass read `variable`'s values out as plain numbers (`item()`, a condition, a loop over a
    /// tensor's values): a trace cannot follow what it computes from them.
    func readOut(_ variable: Variable, by what: String)
}

extension TapeRecorder {
    public func readOut(_ variable: Variable, by what: String) {}
}

/// Where primitives report themselves while a forward pass is traced.
///
/// Like `GradMode`, a plain flag: Retort's interpreter runs on one thread at a time.
public enum Tape {
    nonisolated(unsafe) public static var recorder: TapeRecorder?

    /// Runs `body` with every primitive reported to `recorder`, then restores the previous one.
    public static func recording<R>(to recorder: TapeRecorder, _ body: () throws -> R) rethrows -> R {
        let previous = Tape.recorder
        Tape.recorder = recorder
        defer { Tape.recorder = previous }
        return try body()
    }

    /// Reports a result that needs no gradient (a comparison, an argmax, a detached copy), so the
    /// trace still sees where it came from.
    @inlinable
    public static func record(_ op: @autoclosure () -> Op, inputs: [Variable], output: Variable, owner: AnyObject? = nil) {
        recorder?.record(op(), inputs: inputs, output: output, owner: owner)
    }

    /// Reports that the pass read `variable`'s values out as numbers (`what`: "item() at line 4,
    /// column 17").
    public static func readOut(_ variable: Variable, by what: @autoclosure () -> String) {
        recorder?.readOut(variable, by: what())
    }

    /// Runs `body`, a composite of primitives, reported as one group named `op` over `inputs`.
    @inlinable
    public static func group(
        _ op: @autoclosure () -> Op, inputs: @autoclosure () -> [Variable], owner: AnyObject? = nil,
        _ body: () throws -> Variable
    ) rethrows -> Variable {
        guard let recorder else { return try body() }
        recorder.beginGroup(op(), inputs: inputs(), owner: owner)
        do {
            let output = try body()
            recorder.endGroup(output: output)
            return output
        } catch {
            recorder.endGroup(output: Variable(Tensor(Float.nan)))
            throw error
        }
    }
}
