import Foundation
import Synchronization

/// Crash points for tests, and nothing else: `FAILPOINTS=outbox.before-publish=3` makes the process
/// kill itself with SIGKILL the 3rd time it reaches that point. A kill sent from outside lands
/// wherever the process happens to be; a point lands exactly where a test needs it (between a
/// commit and the publish that follows it), every run. Off unless the variable is set; read once.
package enum FailPoint: String, CaseIterable, Sendable {
    /// The outbox relay has read committed events and is about to hand them to the publisher.
    case outboxBeforePublish = "outbox.before-publish"

    /// The environment variable. Not part of CONTRACT §2: tests set it, operators never do.
    package static let variable = "FAILPOINTS"

    /// Counts a pass through this point, and dies by SIGKILL on the pass it is armed for.
    package func reach() {
        guard let armed = (try? Self.fromEnvironment.get())?[self] else { return }
        let passes = Self.passes.withLock { passes in
            passes[self, default: 0] += 1
            return passes[self, default: 0]
        }
        if passes == armed { kill(getpid(), SIGKILL) }
    }

    /// Stops the process at start (through `ServiceRunner.loadConfiguration`) when the variable is malformed.
    package static func validate() throws(ConfigurationError) {
        _ = try fromEnvironment.get()
    }

    /// `name=N[,name=N…]` with known names and N ≥ 1; unset or empty arms nothing.
    package static func parse(_ text: String?) throws(ConfigurationError) -> [FailPoint: Int] {
        var armed: [FailPoint: Int] = [:]
        for item in (text ?? "").split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let point = FailPoint(rawValue: parts[0]), let pass = Int(parts[1]), pass >= 1 else {
                throw ConfigurationError(variable: variable, value: text ?? "",
                                         expected: "name=N[,name=N] with N ≥ 1 and name one of \(allCases.map(\.rawValue))")
            }
            armed[point] = pass
        }
        return armed
    }

    /// The variable, read once. A malformed value arms nothing (and `validate` stopped the process at start).
    private static let fromEnvironment = Result { () throws(ConfigurationError) in try parse(ProcessInfo.processInfo.environment[variable]) }
    private static let passes = Mutex<[FailPoint: Int]>([:])
}
