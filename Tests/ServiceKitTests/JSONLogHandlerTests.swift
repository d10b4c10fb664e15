import Foundation
import Logging
import Testing
import Tracing
import W3CTraceContext
@testable import Messaging
@testable import ServiceKit

/// `LOG_FORMAT=json`: every line one JSON object, whatever the message and metadata hold.
@Suite("JSON log lines")
struct JSONLogHandlerTests {
    /// Logs through a handler writing into a temporary file and answers the lines, each parsed.
    static func lines(_ log: (Logger) -> Void) throws -> [[String: Any]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("jsonlog-\(UUID().uuidString)").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        defer { unlink(path) }
        let handler = JSONLogHandler(service: "concert", label: "concert", level: .debug,
                                     metadataProvider: LogSetup.propagatedTrace, output: fd)
        log(Logger(label: "concert", factory: { _ in handler }))
        close(fd)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    @Test("time, level, service, message and metadata; quotes, newlines, control characters and non-ASCII survive")
    func fields() throws {
        let awkward = "a \"quoted\" line\nwith a tab\t, a backslash \\, a bell \u{7} and 김민지"
        let lines = try Self.lines { logger in
            var logger = logger
            logger[metadataKey: "rpc.method"] = "concert.hold"
            logger.info("\(awkward)", metadata: ["seat.id": .stringConvertible(7), "note": .string(awkward)])
            logger.debug("second")
        }
        try #require(lines.count == 2)
        let first = lines[0]
        #expect(first["message"] as? String == awkward)
        #expect(first["level"] as? String == "info")
        #expect(first["service"] as? String == "concert")
        #expect(first["trace_id"] == nil, "outside a trace a line names none")
        let metadata = try #require(first["metadata"] as? [String: String])
        #expect(metadata == ["rpc.method": "concert.hold", "seat.id": "7", "note": awkward])
        let time = try #require(first["time"] as? String)
        #expect(time.count == "2026-12-07T23:30:00.123456Z".count && time.hasSuffix("Z"), "\(time)")
        #expect(lines[1]["metadata"] as? [String: String] == ["rpc.method": "concert.hold"])
    }

    @Test("inside a trace every line names its trace and span ids")
    func traceIDs() throws {
        let trace = TraceContext(traceID: .random(), spanID: .random(), flags: .sampled, state: TraceState())
        var context = InstrumentationContext.topLevel
        context.traceContext = trace
        let lines = try Self.lines { logger in
            InstrumentationContext.$current.withValue(context) { logger.warning("inside") }
        }
        #expect(lines.first?["trace_id"] as? String == trace.traceID.description)
        #expect(lines.first?["span_id"] as? String == trace.spanID.description)
        #expect(lines.first?["metadata"] == nil)
    }
}
