/// Stopping a program with an error of its own.
extension Builtins {
    static let errorBuiltins: [Builtin] = [
        Builtin(
            "error", [.init("message", .string)], category: "general",
            summary:
                "Stops with a runtime error carrying the message, at the call (Python's raise): what a function of your own, or the prelude, says when its input cannot be right.",
            example: "if T <= 0 { error(\"T must be positive\") }"
        ) { call in
            throw call.interpreter.diagnostic(.runtime, try call.string("message"), at: call.range)
        }
    ]
}
