import Foundation
import Testing
import TestSupport

/// A Unix datagram socket standing in for systemd's `NOTIFY_SOCKET`.
final class NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in path.utf8.enumerated() { bytes[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Datagrams received until one contains `line` or `timeout` passes; every one received.
    /// Polls without blocking, so the test's thread stays free for the other suites running beside it.
    func receive(until line: String, timeout: Duration) async -> [String] {
        var received: [String] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else {
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            received.append(message)
            if message.split(separator: "\n").contains(Substring(line)) { break }
        }
        return received
    }
}

extension UnderLoadTests.DeploymentTests {
    @Suite("Readiness reported to systemd (sd_notify)", .serialized, .timeLimit(.minutes(2)))
    struct ReadinessTests {
        @Test("each process says READY=1 once it answers, and STOPPING=1 when SIGTERM starts its graceful stop",
              arguments: TestStack.all)
        func notifies(process name: String) async throws {
            let stack = try TestStack()
            let notify = try NotifySocket(path: stack.folder.file("notify-\(name).sock"))
            // Only the process under test is given the socket, as systemd gives one to each unit.
            var environment = stack.environment
            environment["NOTIFY_SOCKET"] = notify.path
            let process = try ManagedProcess(name, arguments: ["serve"], environment: environment, logPath: stack.folder.file("\(name).log"))
            defer { process.kill() }

            let ready = await notify.receive(until: "READY=1", timeout: .seconds(15))
            try #require(ready.contains { $0.hasPrefix("READY=1\nSTATUS=") }, "\(ready)")
            // Ready means answering: the probe gets through at once.
            let probe = name == "gateway"
                ? try await stack.run("gateway", ["probe", "health"])
                : try await stack.run(name, ["probe", "ping", "--timeout", "2"])
            #expect(probe.status == 0, "\(probe.output)")

            process.signal(SIGTERM)
            let stopping = await notify.receive(until: "STOPPING=1", timeout: .seconds(10))
            #expect(stopping.contains { $0.hasPrefix("STOPPING=1") }, "\(stopping)")
            #expect(await process.waitForExit(timeout: .seconds(20)))
        }

        @Test("without NOTIFY_SOCKET nothing is sent and the service runs as before")
        func withoutSystemd() async throws {
            try await withStack(start: ["concert"]) { stack in
                #expect(await eventually(timeout: .seconds(10)) { (try? await stack.run("concert", ["probe", "ping"]))?.status == 0 })
            }
        }
    }
}
