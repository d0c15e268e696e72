import Foundation
import RetortLang

/// Ctrl-C without killing the process. The signal handler only raises a flag (the one thing a
/// handler may safely do); a watcher turns it into a cooperative interrupt of running code, and at
/// the prompt readline's signal hook clears the line instead.
public enum Interrupts {
    nonisolated(unsafe) static let pending: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.pointee = 0
        return p
    }()
    nonisolated(unsafe) public static var atPrompt = true
    /// Set when Ctrl-C cleared the line at the prompt, so a continuation buffer is dropped too.
    nonisolated(unsafe) static var clearedLine = false
    nonisolated(unsafe) static var watcher: DispatchSourceTimer?
    /// Set when Ctrl-C interrupted running code (the terminal echoed ^C mid-line); `takeDuringWork` reads and clears it.
    nonisolated(unsafe) static var duringWork = false

    /// Installs the handler; `onInterrupt` runs (off the main thread) when Ctrl-C arrives during work.
    public static func install(_ onInterrupt: @escaping () -> Void) {
        _ = pending
        var action = sigaction()
        // No SA_RESTART: a blocked read returns EINTR, so readline notices at once.
        action.__sigaction_handler.sa_handler = { _ in Interrupts.pending.pointee = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now(), repeating: .milliseconds(20))
        timer.setEventHandler {
            guard pending.pointee != 0, !atPrompt else { return }
            pending.pointee = 0
            duringWork = true
            onInterrupt()
        }
        timer.resume()
        watcher = timer
    }

    /// Whether Ctrl-C interrupted running code since the last call (and forgets it).
    public static func takeDuringWork() -> Bool {
        defer { duringWork = false }
        return duringWork
    }

    /// Whether Ctrl-C was pressed at the prompt (and forgets it).
    static func takeAtPrompt() -> Bool {
        guard pending.pointee != 0 else { return false }
        pending.pointee = 0
        clearedLine = true
        return true
    }
}
