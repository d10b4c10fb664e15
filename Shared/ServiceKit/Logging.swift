import Foundation
import Logging
import Messaging
import Synchronization
import Tracing

/// How log lines are written (`LOG_FORMAT`): text for a terminal, or one JSON object a line for a
/// log pipeline.
package enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// Sets up swift-log once per process: lines on standard error, at the configured level, each with
/// the trace id of the request it belongs to (`trace_id`, `span_id`). Metadata keys are dotted
/// (`rpc.method`, `saga.id`) so one request can be followed across processes.
package enum LogSetup {
    private static let done = Mutex(false)

    /// Names of the trace fields in every line; swift-otel's metadata provider is told the same.
    package static let traceIDKey = "trace_id"
    package static let spanIDKey = "span_id"

    /// - Parameters:
    ///   - service: the process's service name, the `service` field of JSON lines.
    ///   - traceMetadata: where trace ids come from: `PropagatingTracer`'s context by default,
    ///     swift-otel's when it exports (`Telemetry.bootstrap` passes its provider).
    package static func bootstrap(level: Logger.Level, format: LogFormat = .text, service: String,
                                  traceMetadata: Logger.MetadataProvider = LogSetup.propagatedTrace) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap({ label, provider in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            case .json:
                return JSONLogHandler(service: service, label: label, level: level, metadataProvider: provider)
            }
        }, metadataProvider: traceMetadata)
    }

    package static func logger(_ label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }

    /// The trace of the task's current span, as `PropagatingTracer` keeps it.
    package static let propagatedTrace = Logger.MetadataProvider {
        guard let trace = InstrumentationContext.current?.traceContext else { return [:] }
        return [traceIDKey: .string(trace.traceID.description), spanIDKey: .string(trace.spanID.description)]
    }
}

/// One JSON object a line: `time` (RFC 3339, microseconds, UTC), `level`, `service`, `trace_id` and
/// `span_id` when the line belongs to a trace, `message`, and `metadata` (the rest, as strings).
/// Lines are written whole under one process-wide lock, so lines from concurrent tasks never
/// interleave, however long (a pipe keeps only writes up to PIPE_BUF whole by itself).
package struct JSONLogHandler: LogHandler {
    package var logLevel: Logger.Level
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let service: String
    private let label: String
    private let output: Int32

    /// `output` is the file descriptor lines are written to: standard error unless a test reads them.
    package init(service: String, label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider?,
                 output: Int32 = STDERR_FILENO) {
        self.service = service
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.output = output
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        let traceID = merged.removeValue(forKey: LogSetup.traceIDKey)
        let spanID = merged.removeValue(forKey: LogSetup.spanIDKey)
        var line = "{\"time\":" + JSONText.quoted(Self.timestamp())
        line += ",\"level\":" + JSONText.quoted(event.level.rawValue)
        line += ",\"service\":" + JSONText.quoted(service)
        if label != service { line += ",\"logger\":" + JSONText.quoted(label) }
        if let traceID { line += ",\"trace_id\":" + JSONText.quoted(traceID.description) }
        if let spanID { line += ",\"span_id\":" + JSONText.quoted(spanID.description) }
        line += ",\"message\":" + JSONText.quoted(event.message.description)
        if !merged.isEmpty {
            line += ",\"metadata\":{"
            line += merged.sorted { $0.key < $1.key }.map { JSONText.quoted($0.key) + ":" + JSONText.quoted($0.value.description) }
                .joined(separator: ",")
            line += "}"
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        Self.writing.withLock { _ in
            bytes.withUnsafeMutableBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = Foundation.write(output, buffer.baseAddress! + offset, buffer.count - offset)
                    if written <= 0 { if errno == EINTR { continue } else { return } }
                    offset += written
                }
            }
        }
    }

    private static let writing = Mutex(())

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let micros = Int(now.tv_nsec) / 1000
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = String(micros + 1_000_000).dropFirst()
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }

}
