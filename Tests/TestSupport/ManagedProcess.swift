import Foundation
import Synchronization

/// Where the built executables are: `BIN_DIR`, or beside the running test bundle
/// (`.build/<triple>/debug/`), which is where `swift build` puts them.
package func binaryDirectory() -> String {
    if let dir = ProcessInfo.processInfo.environment["BIN_DIR"], !dir.isEmpty { return dir }
    let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    // On Linux the test runner is `<bin>/<package>PackageTests.xctest`; step out of a bundle folder if any.
    while dir.path != "/" && !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("gateway").path) {
        dir = dir.deletingLastPathComponent()
    }
    return dir.path
}

/// One real child process, with its output captured to a file. Killed (SIGKILL) on deinit if still
/// running, so a failing test never leaves it behind.
package final class ManagedProcess: @unchecked Sendable {
    package let name: String
    package let logPath: String
    private let process = Process()

    /// Starts `executable` (a name in `binaryDirectory()` or a path) with `arguments` and `environment`
    /// added to this process's own.
    package init(_ executable: String, arguments: [String] = [], environment: [String: String] = [:], logPath: String) throws {
        name = executable
        self.logPath = logPath
        let path = executable.hasPrefix("/") ? executable : "\(binaryDirectory())/\(executable)"
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { kill() }

    package var pid: Int32 { process.processIdentifier }
    package var isRunning: Bool { process.isRunning }
    package var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }
    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    package func signal(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    package func kill() { signal(SIGKILL) }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    @discardableResult
    package func waitForExit(timeout: Duration) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(10)) { !process.isRunning }
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`. Returns how long it took to exit.
    @discardableResult
    package func stop(grace: Duration = .seconds(3)) async -> Duration {
        let start = ContinuousClock.now
        signal(SIGTERM)
        if await !waitForExit(timeout: grace) {
            kill()
            await waitForExit(timeout: .seconds(2))
        }
        return ContinuousClock.now - start
    }
}

/// Runs an executable to completion with a deadline and returns its exit status and output.
package func runToCompletion(
    _ executable: String,
    _ arguments: [String],
    environment: [String: String] = [:],
    timeout: Duration = .seconds(10)
) async throws -> (status: Int32, output: String, elapsed: Duration) {
    let folder = try TemporaryDirectory("run")
    defer { folder.remove() }
    let start = ContinuousClock.now
    let process = try ManagedProcess(executable, arguments: arguments, environment: environment, logPath: folder.file("out.log"))
    guard await process.waitForExit(timeout: timeout) else {
        process.kill()
        return (-1, process.log + "\n[killed after \(timeout)]", ContinuousClock.now - start)
    }
    return (process.exitStatus ?? -1, process.log, ContinuousClock.now - start)
}
