import Foundation
import Instrumentation
import Messaging
import Synchronization

/// A fresh folder under the system's temporary directory, removed by `remove()`.
/// Short paths keep `ipc://` endpoints under the 107-byte limit of a Unix socket path.
package struct TemporaryDirectory: Sendable {
    package let path: String

    package init(_ prefix: String = "ct") throws {
        try self.init(in: NSTemporaryDirectory(), prefix)
    }

    /// A fresh folder under `parent` (say `/dev/shm`, for a test that wants files without disk waits).
    package init(in parent: String, _ prefix: String) throws {
        let base = URL(fileURLWithPath: parent).appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    /// An `ipc://` endpoint inside this folder, unique to `name`.
    package func ipc(_ name: String) -> String { "ipc://\(path)/\(name)" }

    package func file(_ name: String) -> String { "\(path)/\(name)" }

    package func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Ports come from below the kernel's
/// ephemeral range (32768-60999 on Linux), handed out in turn within a test process: a port the kernel
/// picked for `bind(0)` could be taken again for an outgoing connection (a browser's, say) before
/// the process under test binds it, and the gateway would then fail to start.
package func freeTCPPort() throws -> Int {
    for _ in 0..<PortPool.size {
        let port = PortPool.next()
        if canBind(port: port) { return port }
    }
    throw POSIXError(.EADDRINUSE)
}

private enum PortPool {
    static let first = 20_000, size = 12_000
    private static let cursor = Mutex(Int.random(in: 0..<size))

    static func next() -> Int {
        cursor.withLock { offset in
            offset = (offset + 1) % size
            return first + offset
        }
    }
}

private func canBind(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A `tcp://127.0.0.1:<port>` endpoint on a free port.
package func freeTCPEndpoint() throws -> String { "tcp://127.0.0.1:\(try freeTCPPort())" }

/// Polls `condition` every `interval` until it holds or `timeout` passes; returns whether it held.
package func eventually(
    timeout: Duration,
    interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}

/// Seconds as a `Duration`-friendly Double, for messages.
package func seconds(_ duration: Duration) -> Double { duration / .seconds(1) }

/// The tracer of the test process: the services' own `PropagatingTracer`, bootstrapped once (swift-
/// distributed-tracing allows one bootstrap a process), for tests that follow a trace in process.
package enum TestTracing {
    private static let once: Void = InstrumentationSystem.bootstrap(PropagatingTracer())

    package static func bootstrap() { once }
}
