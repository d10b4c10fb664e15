import Foundation
import Testing
import TestSupport

/// The five real executables, started as `make run` would start them, on private endpoints.
@Suite("The stack as real processes", .serialized, .timeLimit(.minutes(3)))
struct StackTests {
    @Test("all five start, /readyz turns 200, every probe ping answers, and all stop on SIGTERM")
    func startProbeStop() async throws {
        try await withStack { stack in
            let ready = await stack.waitUntilReady()
            try #require(ready, "the stack never became ready:\n\(stack.logs)")
            let readiness = try await stack.get("/readyz")
            #expect(readiness.body.contains(#""status":"ready""#))
            #expect(try await stack.get("/healthz").status == 200)

            for service in TestStack.backends {
                let probe = try await stack.run(service, ["probe", "ping"])
                #expect(probe.status == 0, "\(service) probe ping: \(probe.output)")
                #expect(probe.output.contains(#""service" : "\#(service)""#), "\(probe.output)")
            }
            let gatewayProbe = try await stack.run("gateway", ["probe", "ping"])
            #expect(gatewayProbe.status == 0, "\(gatewayProbe.output)")
            #expect(gatewayProbe.output.contains("ready"))

            // A probe of an unknown method gets the service's error reply and a failing exit code.
            let unknown = try await stack.run("concert", ["probe", "no_such_method"])
            #expect(unknown.status != 0 && unknown.output.contains("unknown_method"), "\(unknown.output)")

            let took = await stack.stopAll()
            for (name, duration) in took {
                #expect(duration < .seconds(2), "\(name) took \(duration) to stop")
            }
            for name in TestStack.all {
                #expect(stack.logs.contains("--- \(name)"))
            }
        }
    }

    @Test("/readyz names the services that do not answer, and recovers when they come back")
    func readinessNamesMissingServices() async throws {
        try await withStack(start: ["gateway", "queue", "payment"]) { stack in
            let answered = await eventually(timeout: .seconds(15), interval: .milliseconds(100)) {
                (try? await stack.get("/readyz"))?.status == 503
            }
            try #require(answered, "\(stack.logs)")
            let start = ContinuousClock.now
            let answer = try await stack.get("/readyz")
            #expect(ContinuousClock.now - start < .seconds(3))
            #expect(answer.status == 503)
            #expect(answer.body.contains("concert") && answer.body.contains("reservation"))
            #expect(!answer.body.contains("\"queue\"") && answer.body.contains("service_unavailable"))

            try stack.start(["concert", "reservation"])
            #expect(await stack.waitUntilReady(), "\(stack.logs)")
        }
    }

    @Test("a process whose peers are all down stops within 2 seconds of SIGTERM", arguments: ["gateway", "reservation", "concert"])
    func stopsWithPeersDown(service: String) async throws {
        try await withStack(start: [service]) { stack in
            let process = try #require(stack.process(service))
            try await Task.sleep(for: .milliseconds(500))
            if service == "gateway" {
                // Leave calls to the missing services in flight while it is told to stop.
                async let _ = try? stack.get("/readyz")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(process.isRunning, "\(stack.logs)")
            let took = await process.stop()
            #expect(took < .seconds(2), "\(service) took \(took) to stop:\n\(stack.logs)")
            #expect(process.exitStatus == 0, "\(stack.logs)")
        }
    }

    @Test("SIGTERM while a process is still starting stops it gracefully, not by the signal's default", arguments: ["reservation", "gateway"])
    func stopsWhileStarting(service: String) async throws {
        try await withStack(start: [service]) { stack in
            let process = try #require(stack.process(service))
            // The first moment the process handles SIGTERM at all (before that, no program can):
            // from then on, a stop is graceful whatever it is still doing.
            let catching = await eventually(timeout: .seconds(10), interval: .milliseconds(1)) { catchesSIGTERM(process.pid) }
            try #require(catching, "\(service) never handled SIGTERM:\n\(stack.logs)")
            process.signal(SIGTERM)
            #expect(await process.waitForExit(timeout: .seconds(5)), "\(service) did not stop:\n\(stack.logs)")
            #expect(process.exitStatus == 0, "\(service) exited with \(process.exitStatus ?? -1):\n\(stack.logs)")
        }
    }

    @Test("a probe with nothing to ask fails within its timeout with a one-line reason", arguments: ["queue", "gateway"])
    func probeWithoutService(service: String) async throws {
        let stack = try TestStack()
        defer { stack.folder.remove() }
        let result = try await stack.run(service, ["probe", "ping"])
        #expect(result.status != 0)
        #expect(result.elapsed < .seconds(5), "took \(result.elapsed)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("probe:"), "\(result.output)")
    }

    @Test("--help describes each executable and its serve and probe subcommands", arguments: TestStack.all)
    func help(executable: String) async throws {
        let result = try await runToCompletion(executable, ["--help"])
        #expect(result.status == 0)
        #expect(result.output.contains("serve") && result.output.contains("probe"), "\(result.output)")
        let probeHelp = try await runToCompletion(executable, ["probe", "--help"])
        #expect(probeHelp.status == 0 && probeHelp.output.contains("--timeout"), "\(probeHelp.output)")
    }

    @Test("a malformed setting stops a service at once with the variable named")
    func badConfiguration() async throws {
        let result = try await runToCompletion("concert", ["serve"], environment: ["HOLD_SECONDS": "soon"])
        #expect(result.status == 2)
        #expect(result.output.contains("HOLD_SECONDS"), "\(result.output)")
    }
}

/// Whether the process has a handler for SIGTERM (its `SigCgt` mask in /proc), i.e. is past the
/// instant when the signal's default would end it.
func catchesSIGTERM(_ pid: pid_t) -> Bool {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
          let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16)
    else { return false }
    return mask & (1 << (UInt64(SIGTERM) - 1)) != 0
}
