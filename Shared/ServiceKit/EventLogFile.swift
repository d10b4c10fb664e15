import Foundation
import Messaging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why an event file cannot be used.
package enum EventLogError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// Another process (another follower) has it open: two appending to one file would write events twice.
    case inUse(path: String)
    /// Its last complete line is not an event line: it is not a file this command wrote.
    case unreadable(path: String, line: String)
    case writeFailed(path: String, reason: String)

    package var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "cannot open \(path): \(reason)"
        case .inUse(let path): "\(path) is in use by another follower"
        case .unreadable(let path, let line): "the last line of \(path) is not an event line: \(line.prefix(200))"
        case .writeFailed(let path, let reason): "cannot write to \(path): \(reason)"
        }
    }
}

/// A file of events, one JSON line each, `{"epoch","seq","type","body"}`, that a follower appends to
/// and resumes from: the last complete line is its position, so the file is the only record.
/// Each line goes out in one `write`; a process killed during one (SIGKILL stops a write between
/// pages) leaves a torn last line without its newline, which the next open cuts off, and its event
/// is then fetched again. The file is locked (`flock`) while open, so a second follower refuses it.
package final class EventLogFile: Sendable {
    package let path: String
    /// Bytes of a torn last line cut off when the file was opened.
    package let discardedBytes: Int
    private let descriptor: Int32
    private let last: Mutex<EventPosition>

    /// Opens (or creates) the file and reads where it ends.
    package init(path: String) throws(EventLogError) {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            Glibc.close(fd)
            throw .inUse(path: path)
        }
        do throws(EventLogError) {
            let (keep, lastLine) = try Self.tail(fd, path: path)
            let size = lseek(fd, 0, SEEK_END)
            // A torn last line that stayed would have the next line appended to it.
            if keep < size, ftruncate(fd, keep) != 0 {
                throw .cannotOpen(path: path, reason: "cannot cut the torn last line: \(String(cString: strerror(errno)))")
            }
            discardedBytes = Int(size - keep)
            var position = EventPosition.beginning
            if let lastLine { position = try Self.position(of: lastLine, path: path) }
            last = Mutex(position)
        } catch {
            Glibc.close(fd)
            throw error
        }
        descriptor = fd
    }

    /// The last event in the file (`.beginning` when it has none): where following resumes.
    package var position: EventPosition { last.withLock { $0 } }

    /// Appends one event as one line.
    package func append(_ event: FollowedEvent) throws {
        let line = [UInt8](Self.line(event))
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw EventLogError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            offset += written
        }
        last.withLock { $0 = EventPosition(epoch: event.epoch, seq: event.seq) }
    }

    /// Flushes the file to disk and releases it; answers why the flush failed, if it did. Call once, last.
    @discardableResult
    package func close() -> EventLogError? {
        let flushed = fsync(descriptor) == 0 ? nil : EventLogError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        Glibc.close(descriptor)
        return flushed
    }

    /// `{"epoch":…,"seq":…,"type":…,"body":…}` and a newline; the body is spliced in as it is (JSON).
    package static func line(_ event: FollowedEvent) -> Data {
        Data("{\"epoch\":\(JSONText.quoted(event.epoch)),\"seq\":\(event.seq),\"type\":\(JSONText.quoted(event.type)),\"body\":\(event.body)}\n".utf8)
    }

    /// Where the complete lines end, and the last of them, read backwards from the end in growing chunks.
    private static func tail(_ fd: Int32, path: String) throws(EventLogError) -> (keep: off_t, lastLine: [UInt8]?) {
        let size = lseek(fd, 0, SEEK_END)
        var chunk: off_t = 64 * 1024
        while true {
            let start = max(0, size - chunk)
            var bytes = [UInt8](repeating: 0, count: Int(size - start))
            let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, start) }
            guard read == bytes.count else { throw .cannotOpen(path: path, reason: "short read") }
            guard let end = bytes.lastIndex(of: UInt8(ascii: "\n")) else {
                // No complete line in the whole file: all of it is torn.
                if start == 0 { return (0, nil) }
                chunk *= 2
                continue
            }
            if let before = bytes[..<end].lastIndex(of: UInt8(ascii: "\n")) {
                return (start + off_t(end) + 1, Array(bytes[(before + 1)..<end]))
            }
            if start == 0 { return (off_t(end) + 1, Array(bytes[..<end])) }
            chunk *= 2
        }
    }

    private struct Head: Decodable {
        let epoch: String
        let seq: UInt64
    }

    private static func position(of line: [UInt8], path: String) throws(EventLogError) -> EventPosition {
        guard let head = try? JSONDecoder().decode(Head.self, from: Data(line)) else {
            throw .unreadable(path: path, line: String(decoding: line, as: UTF8.self))
        }
        return EventPosition(epoch: head.epoch, seq: head.seq)
    }
}
