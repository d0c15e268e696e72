import Foundation
import RetortTensor

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes `bytes` to `path` all at once: into a temporary file in the same directory, flushed,
/// then renamed over `path`, so a reader never sees half a file and a failed write leaves any old
/// file intact and no temporary file behind. Errors name `op` and the path as given.
///
/// An existing file keeps its permissions; a symbolic link is written through (its target is
/// replaced, the link stays). RetortNN has the same routine for checkpoints, internal to it, so
/// this target has its own.
func writeFileAtomically(_ bytes: [UInt8], to path: String, op: String) throws {
    var target = URL(fileURLWithPath: NSString(string: path).expandingTildeInPath)
    if let destination = try? FileManager.default.destinationOfSymbolicLink(atPath: target.path) {
        target = URL(fileURLWithPath: destination, relativeTo: target.deletingLastPathComponent()).standardizedFileURL
    }
    let temporary = target.deletingLastPathComponent()
        .appendingPathComponent(".\(target.lastPathComponent).\(getpid())-\(UInt32.random(in: 0 ... .max)).tmp").path
    func failure(_ what: String) -> TensorError {
        TensorError(.file, op, "cannot write '\(path)': \(what): \(String(cString: strerror(errno)))")
    }
    var existing = stat()
    let mode: mode_t = stat(target.path, &existing) == 0 ? existing.st_mode & 0o7777 : 0o644
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    guard fd >= 0 else { throw failure("cannot create a temporary file in its directory") }
    // Not through open's mode, which the umask narrows.
    fchmod(fd, mode)
    var renamed = false
    defer { if !renamed { unlink(temporary) } }
    do {
        try bytes.withUnsafeBytes { buffer in
            guard let start = buffer.baseAddress else { return }  // nothing to write
            var written = 0
            while written < buffer.count {
                let n = write(fd, start + written, buffer.count - written)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure("writing failed after \(written) of \(buffer.count) bytes") }
                written += n
            }
        }
        guard fsync(fd) == 0 else { throw failure("flushing to disk failed") }
    } catch {
        close(fd)
        throw error
    }
    guard close(fd) == 0 else { throw failure("closing failed") }
    guard rename(temporary, target.path) == 0 else { throw failure("renaming the temporary file over it failed") }
    renamed = true
}
