#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle

/// systemd's readiness protocol (sd_notify(3)) without libsystemd: when the process runs under a
/// `Type=notify` unit, `NOTIFY_SOCKET` names a Unix datagram socket, and each notice is one
/// datagram of `KEY=value` lines. Outside systemd the variable is unset and nothing is sent.
package enum SystemdNotify {
    /// Sends `assignments` (for example `"READY=1"`); false when there is no socket or it failed.
    /// A failure is never fatal: the unit's start timeout tells the operator instead.
    @discardableResult
    package static func send(_ assignments: String, socketPath: String? = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"]) -> Bool {
        guard var path = socketPath, !path.isEmpty else { return false }
        // "@name" is Linux's abstract namespace: the name begins with a NUL byte instead.
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let name = Array(path.utf8)
        let offset = abstract ? 1 : 0
        // A path needs room for its terminating NUL; an abstract name is counted by length instead.
        guard name.count + offset + (abstract ? 0 : 1) <= capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            for (index, byte) in name.enumerated() { bytes[index + offset] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + offset + name.count + (abstract ? 0 : 1))
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let message = Array(assignments.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                sendto(descriptor, message, message.count, Int32(MSG_NOSIGNAL), socketAddress, length)
            }
        }
        return sent == message.count
    }
}

/// Tells systemd when the process is ready (`READY=1`, once `isReady` holds: its sockets are
/// bound) and when a graceful stop begins (`STOPPING=1`). One per process, in its service group.
package struct ReadinessReport: Service, CustomStringConvertible {
    package let description = "ReadinessReport"
    private let isReady: @Sendable () -> Bool
    private let status: String
    private let logger: Logger
    private let deadline: Duration

    /// - Parameters:
    ///   - status: the one-line `STATUS=` that `systemctl status` shows once ready.
    ///   - deadline: how long to look for readiness; past it the unit's own start timeout decides.
    package init(status: String, logger: Logger, deadline: Duration = .seconds(60), isReady: @escaping @Sendable () -> Bool) {
        self.isReady = isReady
        self.status = status
        self.logger = logger
        self.deadline = deadline
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            let start = ContinuousClock.now
            while !isReady() {
                guard ContinuousClock.now - start < deadline, !Task.isCancelled else { return }
                try? await Task.sleep(for: .milliseconds(10))
            }
            if SystemdNotify.send("READY=1\nSTATUS=\(status)") {
                logger.info("told systemd the service is ready")
            }
        }
        // Stays in the group until the stop begins, so the group's shutdown is what ends it.
        try? await gracefulShutdown()
        SystemdNotify.send("STOPPING=1\nSTATUS=stopping")
    }
}
