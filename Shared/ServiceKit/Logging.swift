import Logging
import Synchronization

/// Sets up swift-log once per process: lines on standard error, at the configured level.
/// Metadata keys are dotted (`rpc.method`, `saga.id`) so one request can be followed across processes.
package enum LogSetup {
    private static let done = Mutex(false)

    package static func bootstrap(level: Logger.Level) {
        let first = done.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    package static func logger(_ label: String, level: Logger.Level) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}
