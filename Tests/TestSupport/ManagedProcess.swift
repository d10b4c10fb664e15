import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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
///
/// Spawned with `posix_spawn` and a clean signal mask: test runners start processes from threads
/// that block most signals, and a child that inherited that mask (bash, for one) would ignore SIGTERM.
package final class ManagedProcess: @unchecked Sendable {
    package let name: String
    package let logPath: String
    package let pid: pid_t
    private let exit = Mutex<Int32?>(nil)

    /// Starts `executable` (a name in `binaryDirectory()` or a path) with `arguments` and `environment`
    /// added to this process's own.
    /// With `ownProcessGroup`, the child leads a new process group, as a terminal's foreground job
    /// does, so `signalGroup` reaches it and everything it starts (Ctrl-C). With `appendingLog`, a
    /// restarted process adds to its predecessor's log instead of replacing it.
    package init(_ executable: String, arguments: [String] = [], environment: [String: String] = [:], logPath: String,
                 ownProcessGroup: Bool = false, appendingLog: Bool = false) throws {
        name = executable
        self.logPath = logPath
        let path = executable.hasPrefix("/") ? executable : "\(binaryDirectory())/\(executable)"
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | (appendingLog ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        pid = child
    }

    deinit { kill() }

    /// The exit status once the process has ended: its exit code, or 128 + the signal that ended it.
    package var exitStatus: Int32? {
        exit.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    let signal = raw & 0x7f
                    status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
                }
            }
            return status
        }
    }

    package var isRunning: Bool { exitStatus == nil }
    package var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    package func signal(_ signal: Int32) {
        if isRunning { Foundation.kill(pid, signal) }
    }

    /// Sends `signal` to the child's whole process group (it must have been started with `ownProcessGroup`).
    package func signalGroup(_ signal: Int32) {
        Foundation.kill(-pid, signal)
    }

    package func kill() {
        signal(SIGKILL)
        // Reap it, so no zombie is left behind.
        for _ in 0..<100 where isRunning { usleep(10_000) }
    }

    /// Waits up to `timeout` for the process to exit; returns whether it did.
    @discardableResult
    package func waitForExit(timeout: Duration) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(10)) { !isRunning }
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace`. Returns how long it took to exit.
    @discardableResult
    package func stop(grace: Duration = .seconds(3)) async -> Duration {
        let start = ContinuousClock.now
        signal(SIGTERM)
        if await !waitForExit(timeout: grace) {
            kill()
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
