import CReadline
import Foundation
import RetortLang

/// GNU readline: line editing, persistent history and Tab completion. The only file that calls
/// readline; completion candidates come from the language (`Session.completions`).
final class Readline {
    /// The session completion asks; readline's C callbacks cannot capture Swift context.
    nonisolated(unsafe) static var session: Session?
    nonisolated(unsafe) static var matches: [String] = []
    nonisolated(unsafe) static var nextMatch = 0

    let historyPath: String
    static let historyLimit: Int32 = 2000

    init(historyPath: String) {
        self.historyPath = historyPath
        rl_readline_name = UnsafePointer(strdup("retort"))
        // Ctrl-C is ours (Interrupts), not readline's: it clears the line at the prompt.
        rl_catch_signals = 0
        // Our own key reader: readline's retries an interrupted read() forever, so a Ctrl-C at the
        // prompt would only take effect after the next key. Ours answers it with an empty line.
        rl_getc_function = { stream in Readline.getKey(stream) }
        rl_attempted_completion_function = { text, start, end in Readline.complete(text, start, end) }
        rl_completer_word_break_characters = UnsafePointer(strdup(" \t\n()[]{},.:+-*/^@<>=|\""))
        using_history()
        stifle_history(Readline.historyLimit)
        // A multi-line entry (a function typed over three lines) stays one entry in the file too,
        // as IPython recalls a block: timestamps mark where each entry starts, and the lines
        // between them are read back as one (without them each line came back as an entry).
        // (The timestamp lines start with the comment character, which readline leaves unset.)
        history_comment_char = CChar(UInt8(ascii: "#"))
        history_write_timestamps = 1
        history_multiline_entries = 1
        try? FileManager.default.createDirectory(
            atPath: (historyPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = read_history(historyPath)
    }

    /// Reads one line; nil at end of input (Ctrl-D on an empty line).
    func readLine(prompt: String) -> String? {
        guard let line = readline(prompt) else { return nil }
        defer { free(line) }
        return String(cString: line)
    }

    /// Adds an entry and appends it to the file, so two sessions at once keep both their entries
    /// (rewriting the whole file from this session's list lost the other's).
    func addHistory(_ entry: String) {
        add_history(entry)
        if !FileManager.default.fileExists(atPath: historyPath) {
            FileManager.default.createFile(atPath: historyPath, contents: nil)
        }
        _ = append_history(1, historyPath)
        _ = history_truncate_file(historyPath, Readline.historyLimit)
    }

    /// Reads one key; on Ctrl-C it clears the line and returns Enter, so readline hands back "".
    static func getKey(_ stream: UnsafeMutablePointer<FILE>?) -> Int32 {
        var byte: UInt8 = 0
        while true {
            let n = read(stream.map { fileno($0) } ?? STDIN_FILENO, &byte, 1)
            if n == 1 { return Int32(byte) }
            if n == 0 { return EOF }
            guard errno == EINTR else { return EOF }
            if Interrupts.takeAtPrompt() {
                rl_replace_line("", 0)
                rl_redisplay()
                FileHandle.standardOutput.write(Data("^C".utf8))
                return 10
            }
        }
    }

    static func complete(_ text: UnsafePointer<CChar>?, _ start: Int32, _ end: Int32) -> UnsafeMutablePointer<
        UnsafeMutablePointer<CChar>?
    >? {
        rl_attempted_completion_over = 1
        rl_completion_append_character = 0
        guard let session, let buffer = rl_line_buffer else { return nil }
        let bytes = Array(
            UnsafeBufferPointer(start: UnsafeRawPointer(buffer).assumingMemoryBound(to: UInt8.self), count: Int(strlen(buffer))))
        let line = String(decoding: bytes, as: UTF8.self)
        let cursor = String(decoding: bytes.prefix(Int(rl_point)), as: UTF8.self).unicodeScalars.count
        let result = session.completions(line, cursor: cursor)
        // readline replaces only the word it found; keep the candidates' part after that point.
        let typed = text.map { String(cString: $0) } ?? ""
        let partial = String(String.UnicodeScalarView(Array(line.unicodeScalars)[result.start..<result.end]))
        matches = result.matches.map { typed + $0.dropFirst(partial.count) }
        nextMatch = 0
        return rl_completion_matches(text) { _, state in
            if state == 0 { Readline.nextMatch = 0 }
            guard Readline.nextMatch < Readline.matches.count else { return nil }
            defer { Readline.nextMatch += 1 }
            return strdup(Readline.matches[Readline.nextMatch])
        }
    }
}
