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
    /// Where the gateway is reached: loopback, unless the test runs it on another (network) host.
    package var gatewayAddress = "127.0.0.1"
    package var baseURL: String { "http://\(gatewayAddress):\(gatewayPort)" }
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

    /// Starts one more gateway over the same services, on a port of its own, under `name` (its log
    /// is `<name>.log`): gateways are stateless, so any number may serve one stack. Answers its port.
    package func startGateway(named name: String) throws -> Int {
        let port = try freeTCPPort()
        var environment = self.environment
        environment["GATEWAY_PORT"] = "\(port)"
        processes[name] = try ManagedProcess("gateway", arguments: ["serve"], environment: environment,
                                             logPath: folder.file("\(name).log"))
        return port
    }

    /// Starts one executable under a wrapper command (`ip netns exec <ns>`: another network host),
    /// with the stack's environment and `extra` on top.
    package func start(_ name: String, under wrapper: [String], extra: [String: String]) throws {
        processes[name] = try ManagedProcess(wrapper[0], arguments: Array(wrapper.dropFirst()) + ["\(binaryDirectory())/\(name)", "serve"],
                                             environment: environment.merging(extra) { _, new in new },
                                             logPath: folder.file("\(name).log"))
    }

    /// Starts one executable again (after `stop` or a kill), with the stack's environment; with
    /// `appendingLog`, its log goes on after the previous run's instead of replacing it.
    package func restart(_ name: String, appendingLog: Bool = false) throws {
        processes[name]?.kill()
        processes[name] = try ManagedProcess(name, arguments: ["serve"], environment: environment, logPath: folder.file("\(name).log"),
                                             appendingLog: appendingLog)
    }

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
        // Gateways (the stack's and any extra ones) first, then the services they call.
        let gateways = processes.keys.filter { !Self.backends.contains($0) }.sorted()
        for name in gateways + Self.backends where processes[name] != nil {
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

    /// The tests' HTTP client, with AsyncHTTPClient's own tracing off: once a test has bootstrapped
    /// a tracer (`TestTracing`), AsyncHTTPClient would add a `traceparent` of its own beside the one
    /// a test sends, and the gateway, reading two, would rightly start a new trace.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.tracing.tracer = nil
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Waits until `GET /readyz` answers 200.
    package func waitUntilReady(timeout: Duration = .seconds(20), port: Int? = nil) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            (try? await send("GET", "/readyz", port: port))?.status == 200
        }
    }

    /// A GET against the gateway: status and body.
    package func get(_ path: String, timeout: Duration = .seconds(5)) async throws -> (status: Int, body: String) {
        let answer = try await send("GET", path, timeout: timeout)
        return (answer.status, answer.body)
    }

    /// Any request against the gateway, with headers and a body; answers status, headers and body.
    /// `port` picks another gateway of the stack (`startGateway`).
    package func send(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil,
                      timeout: Duration = .seconds(5), port: Int? = nil) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: "http://\(gatewayAddress):\(port ?? gatewayPort)" + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await Self.client.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))))
        let bytes = try await response.body.collect(upTo: 1 << 22)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return HTTPAnswer(status: Int(response.status.code), headers: fields, body: String(buffer: bytes))
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

/// A gateway's answer: status, headers (lowercased names) and body.
package struct HTTPAnswer: Sendable {
    package let status: Int
    package let headers: [String: String]
    package let body: String

    /// The body as JSON.
    package var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
    /// A field of a JSON object body.
    package subscript(_ key: String) -> Any? { (json as? [String: Any])?[key] }
    /// The problem `code` of an error answer.
    package var code: String? { self["code"] as? String }
}
