import Foundation
import Testing
import TestSupport
@testable import ServiceKit

@Suite("The events file: one JSON line an event, resumed after its last complete line")
struct EventLogFileTests {
    /// Runs `body` with the path of a file in a fresh folder, removed afterwards.
    func withPath(_ body: (String) throws -> Void) throws {
        let folder = try TemporaryDirectory("log")
        defer { folder.remove() }
        try body(folder.file("events.jsonl"))
    }

    /// Writes events with these numbers to `path` and closes it.
    func write(_ numbers: ClosedRange<UInt64>, to path: String) throws {
        let file = try EventLogFile(path: path)
        for seq in numbers { try file.append(event(seq)) }
        file.close()
    }

    func event(_ seq: UInt64, epoch: String = "e1") -> FollowedEvent {
        FollowedEvent(epoch: epoch, seq: seq, type: "reservation.reserved", body: #"{"reservationId":\#(seq),"status":"reserved"}"#,
                      arrival: .live)
    }

    @Test("each event is one line {epoch, seq, type, body}; opened again, the file resumes after its last line")
    func linesAndResume() throws {
        try withPath { path in
            let fresh = try EventLogFile(path: path)
            #expect(fresh.position == .beginning && fresh.discardedBytes == 0)
            fresh.close()
            try write(1...3, to: path)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let lines = text.split(separator: "\n")
            #expect(lines.count == 3 && text.hasSuffix("\n"))
            #expect(lines[0] == #"{"epoch":"e1","seq":1,"type":"reservation.reserved","body":{"reservationId":1,"status":"reserved"}}"#)
            let again = try EventLogFile(path: path)
            #expect(again.position == EventPosition(epoch: "e1", seq: 3))
            again.close()
        }
    }

    @Test("a torn last line, as a kill in the middle of a write leaves, is cut off and its event written again once")
    func tornLineIsCut() throws {
        try withPath { path in
            try write(1...2, to: path)
            let torn = Data(EventLogFile.line(event(3)).prefix(20))
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.seekToEnd()
            try handle.write(contentsOf: torn)
            try handle.close()

            let resumed = try EventLogFile(path: path)
            #expect(resumed.position == EventPosition(epoch: "e1", seq: 2))
            #expect(resumed.discardedBytes == torn.count)
            try resumed.append(event(3))
            resumed.close()
            let seqs = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
                (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["seq"] as? Int
            }
            #expect(seqs == [1, 2, 3])
        }
    }

    @Test("a file with no complete line is all torn: it starts from the beginning, empty")
    func allTorn() throws {
        try withPath { path in
            try Data(#"{"epoch":"e1","se"#.utf8).write(to: URL(fileURLWithPath: path))
            let file = try EventLogFile(path: path)
            #expect(file.position == .beginning && file.discardedBytes == 17)
            file.close()
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
        }
    }

    @Test("a long file is resumed from its tail alone; a last line longer than the first chunk read is found whole")
    func longLines() throws {
        try withPath { path in
            try write(1...2000, to: path)
            let file = try EventLogFile(path: path)
            let long = String(repeating: "x", count: 200_000)
            try file.append(FollowedEvent(epoch: "e1", seq: 2001, type: "t", body: "\"\(long)\"", arrival: .caughtUp))
            file.close()
            let again = try EventLogFile(path: path)
            #expect(again.position == EventPosition(epoch: "e1", seq: 2001))
            again.close()
        }
    }

    @Test("a second follower of the same file is refused while the first has it open")
    func oneWriterAtATime() throws {
        try withPath { path in
            let first = try EventLogFile(path: path)
            #expect(throws: EventLogError.inUse(path: path)) { try EventLogFile(path: path) }
            first.close()
            try EventLogFile(path: path).close()
        }
    }

    @Test("a file whose last line is not an event line is refused, not appended to")
    func foreignFile() throws {
        try withPath { path in
            try Data("shopping list\n".utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: EventLogError.unreadable(path: path, line: "shopping list")) { try EventLogFile(path: path) }
        }
    }
}

@Suite("Fail points (FAILPOINTS, for tests only)")
struct FailPointTests {
    @Test("name=N pairs are read; unset arms nothing; an unknown name or a count below 1 is refused with the variable named")
    func parsing() throws {
        #expect(try FailPoint.parse(nil).isEmpty)
        #expect(try FailPoint.parse("").isEmpty)
        #expect(try FailPoint.parse("outbox.before-publish=3") == [.outboxBeforePublish: 3])
        #expect(try FailPoint.parse(" outbox.before-publish = 1 ") == [.outboxBeforePublish: 1])
        for bad in ["outbox.before-publish", "outbox.before-publish=0", "outbox.before-publish=x", "saga.after-debit=2"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try FailPoint.parse(bad) }
        }
        // Not armed in this process: reaching a point does nothing.
        FailPoint.outboxBeforePublish.reach()
    }
}
