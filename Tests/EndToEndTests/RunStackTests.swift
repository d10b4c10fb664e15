import Foundation
import Testing
import TestSupport

/// `deploy/local/run-stack.sh`, the supervisor behind `make run`, on the debug binaries.
@Suite("make run's supervisor", .serialized, .timeLimit(.minutes(2)))
struct RunStackTests {
    static let script = repositoryRoot.appendingPathComponent("deploy/local/run-stack.sh").path

    func pid(of service: String, in stack: TestStack) async throws -> Int32? {
        let probe = try await stack.run(service, ["probe", "ping"], timeout: .seconds(5))
        guard probe.status == 0, let data = probe.output.data(using: .utf8),
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return (object["pid"] as? NSNumber)?.int32Value
    }

    func alive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    @Test("starts all five, restarts a killed one within 2 seconds, and stops them all on SIGTERM or Ctrl-C",
          arguments: ["SIGTERM", "Ctrl-C"])
    func superviseRestartStop(stopWith: String) async throws {
        let stack = try TestStack()
        defer { stack.folder.remove() }
        let supervisor = try ManagedProcess("/bin/bash", arguments: [Self.script, binaryDirectory()],
                                            environment: stack.environment, logPath: stack.folder.file("run-stack.log"),
                                            ownProcessGroup: true)
        var children: [Int32] = []
        var failure: (any Error)?
        do {
            let ready = await stack.waitUntilReady()
            try #require(ready, "never ready:\n\(supervisor.log)")
            for service in TestStack.backends {
                children.append(try #require(try await pid(of: service, in: stack)))
            }

            let victim = try #require(try await pid(of: "concert", in: stack))
            let killedAt = ContinuousClock.now
            kill(victim, SIGKILL)
            var replacement: Int32?
            _ = try await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
                replacement = try await pid(of: "concert", in: stack)
                return replacement != nil && replacement != victim
            }
            let back = ContinuousClock.now - killedAt
            let newPID = try #require(replacement, "concert never came back:\n\(supervisor.log)")
            // Restarted within 2 s; the rest is the new process binding and answering.
            #expect(back < .seconds(3), "took \(back)")
            #expect(supervisor.log.contains("concert exited"))
            children.append(newPID)

            if stopWith == "Ctrl-C" {
                // A terminal's Ctrl-C: SIGINT to every process of the foreground group at once.
                supervisor.signalGroup(SIGINT)
            } else {
                supervisor.signal(SIGTERM)
            }
            let stopped = await supervisor.waitForExit(timeout: .seconds(5))
            #expect(stopped, "\(supervisor.log)")
            #expect(!supervisor.log.contains("exited with status 0"), "a service stopped on purpose was restarted:\n\(supervisor.log)")
            #expect(supervisor.exitStatus == 0)
            let gone = await eventually(timeout: .seconds(2)) { children.allSatisfy { !alive($0) } }
            #expect(gone, "processes left running: \(children.filter(alive))")
        } catch {
            failure = error
        }
        // Whatever happened above, leave nothing running.
        supervisor.signalGroup(SIGTERM)
        await supervisor.waitForExit(timeout: .seconds(5))
        supervisor.kill()
        for child in children where alive(child) { kill(child, SIGKILL) }
        if let failure { throw failure }
    }
}
