import AsyncHTTPClient
import Foundation
import NIOCore

/// The whole stack as real processes: the five executables in a temporary folder, every ZeroMQ
/// endpoint an `ipc://` path in that folder and the gateway on a free TCP port, so tests never collide.
/// `withStack` stops every process even when the test fails.
package final class TestStack: @unchecked Sendable {
    package static let backends = ["queue", "concert", "payment", "reservation"]
    package static let all = backends + ["gateway"]

    package let folder: TemporaryDirectory
    package let environment: [String: String]
    package let gatewayPort: Int
    package var baseURL: String { "http://127.0.0.1:\(gatewayPort)" }
    private var processes: [String: ManagedProcess] = [:]

    /// Prepares the environment; `extra` overrides any variable (short holds, fast admission, …).
    package init(extra: [String: String] = [:]) throws {
        folder = try TemporaryDirectory("stack")
        gatewayPort = try freeTCPPort()
        var environment = [
            "DATA_DIR": folder.file("data"),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": "\(gatewayPort)",
            "LOG_LEVEL": "info",
        ]
        for service in Self.backends {
            let prefix = service.uppercased()
            environment["\(prefix)_RPC"] = folder.ipc("\(service).rpc")
            environment["\(prefix)_EVENTS"] = folder.ipc("\(service).events")
        }
        self.environment = environment.merging(extra) { _, new in new }
    }

    deinit {
        for process in processes.values { process.kill() }
    }

    /// Starts the named executables (all five by default) with `serve`.
    package func start(_ names: [String] = TestStack.all) throws {
        for name in names {
            processes[name] = try ManagedProcess(name, arguments: ["serve"], environment: environment,
                                                 logPath: folder.file("\(name).log"))
        }
    }

    package func process(_ name: String) -> ManagedProcess? { processes[name] }

    /// Stops one process (SIGTERM, SIGKILL after a grace period); returns how long it took.
    @discardableResult
    package func stop(_ name: String) async -> Duration? {
        guard let process = processes.removeValue(forKey: name) else { return nil }
        return await process.stop()
    }

    /// Stops every process, gateway first, and returns how long each took.
    @discardableResult
    package func stopAll() async -> [String: Duration] {
        var took: [String: Duration] = [:]
        for name in ["gateway"] + Self.backends where processes[name] != nil {
            took[name] = await stop(name)
        }
        return took
    }

    /// The logs of every process, for a failing test's message.
    package var logs: String {
        Self.all.compactMap { name in
            (try? String(contentsOfFile: folder.file("\(name).log"), encoding: .utf8)).map { "--- \(name)\n\($0)" }
        }.joined(separator: "\n")
    }

    /// Waits until `GET /readyz` answers 200.
    package func waitUntilReady(timeout: Duration = .seconds(20)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            (try? await get("/readyz"))?.status == 200
        }
    }

    /// A GET against the gateway: status and body.
    package func get(_ path: String, timeout: Duration = .seconds(5)) async throws -> (status: Int, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + path), timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
        let body = try await response.body.collect(upTo: 1 << 22)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Runs one of the executables to completion (a probe) with this stack's environment.
    package func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(10)) async throws -> (status: Int32, output: String, elapsed: Duration) {
        try await runToCompletion(executable, arguments, environment: environment, timeout: timeout)
    }
}

/// Runs `body` with a fresh stack and always stops its processes and removes its folder afterwards.
package func withStack<T>(
    extra: [String: String] = [:],
    start names: [String] = TestStack.all,
    _ body: (TestStack) async throws -> T
) async throws -> T {
    let stack = try TestStack(extra: extra)
    do {
        try stack.start(names)
        let result = try await body(stack)
        await stack.stopAll()
        stack.folder.remove()
        return result
    } catch {
        await stack.stopAll()
        // Keep the folder (and its logs) of a failed run for a look afterwards.
        throw error
    }
}
