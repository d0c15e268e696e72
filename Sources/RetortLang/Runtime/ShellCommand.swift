import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `!command` at the REPL's prompt or on a line of a notebook cell, as in IPython: `/bin/sh -c`
/// runs it in the session's folder, its output reaches the sink as it comes (standard error as
/// error text), its input is empty (a command that asks for input reads end of file instead of
/// hanging), and an interrupt stops it: SIGINT to its whole process group, SIGKILL two seconds later.
///
/// Unlike IPython, a command that fails is an error: a lesson that runs `!python check.py` must not
/// look fine when the check failed.
struct ShellCommand {
    let command: String

    enum Ending {
        case exited(Int32)
        case signalled(Int32)
        case interrupted
        case couldNotStart(String)
    }

    func run(write: @escaping (String) -> Void, writeError: @escaping (String) -> Void, interrupt: InterruptFlag) -> Ending {
        var output: [Int32] = [0, 0]
        var errors: [Int32] = [0, 0]
        guard pipe(&output) == 0, pipe(&errors) == 0 else { return .couldNotStart(String(cString: strerror(errno))) }
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        for fd in output + errors { posix_spawn_file_actions_addclose(&actions, fd) }
        // Its own process group, so an interrupt reaches what the shell started too; default signal
        // handling, whatever the front end set for itself.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let arguments = ["/bin/sh", "-c", command]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in cArguments { free(p) } }
        let status = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &cArguments, environ)
        close(output[1])
        close(errors[1])
        defer {
            close(output[0])
            close(errors[0])
        }
        guard status == 0 else { return .couldNotStart(String(cString: strerror(status))) }

        var streams = [Stream(fd: output[0], emit: write), Stream(fd: errors[0], emit: writeError)]
        var interruptedAt: Date?
        while streams.contains(where: { $0.open }) {
            if interrupt.isRequested, interruptedAt == nil {
                interrupt.clear()
                interruptedAt = Date()
                kill(-pid, SIGINT)
            }
            if let at = interruptedAt, Date().timeIntervalSince(at) > 2 { kill(-pid, SIGKILL) }
            var polled = streams.filter { $0.open }.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&polled, nfds_t(polled.count), 100) >= 0 || errno == EINTR else { break }
            for p in polled where p.revents != 0 {
                if let i = streams.firstIndex(where: { $0.fd == p.fd }) { streams[i].read() }
            }
        }
        for i in streams.indices { streams[i].flush() }
        var waited: Int32 = 0
        while waitpid(pid, &waited, 0) < 0 && errno == EINTR {}
        if interruptedAt != nil { return .interrupted }
        // WIFEXITED and friends are macros; their arithmetic, spelled out.
        let signal = waited & 0x7f
        return signal == 0 ? .exited((waited >> 8) & 0xff) : .signalled(signal)
    }

    /// One of the child's output pipes: bytes are passed on a line at a time (a long line without a
    /// newline in chunks), so characters split between reads arrive whole.
    private struct Stream {
        let fd: Int32
        let emit: (String) -> Void
        var open = true
        var pending: [UInt8] = []

        mutating func read() {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                if n == 0 || errno != EINTR { open = false }
                return
            }
            pending += buffer[0..<n]
            if let last = pending.lastIndex(of: UInt8(ascii: "\n")) {
                emit(String(decoding: pending[...last], as: UTF8.self))
                pending.removeSubrange(...last)
            } else if pending.count > 65536 {
                flush()
            }
        }

        mutating func flush() {
            guard !pending.isEmpty else { return }
            emit(String(decoding: pending, as: UTF8.self))
            pending = []
        }
    }
}
