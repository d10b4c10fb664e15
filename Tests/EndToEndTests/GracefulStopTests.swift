import Foundation
import Testing
import TestSupport

extension UnderLoadTests.DeploymentTests {
    @Suite("Graceful stop under load", .serialized, .timeLimit(.minutes(5)))
    struct GracefulStopTests {
        @Test("SIGTERM while bookings are in flight: requests in progress finish or fail with a contract error, the process exits within 20 s, every file passes integrity_check",
              arguments: TestStack.all)
        func sigtermUnderLoad(process name: String) async throws {
            try await withStack(extra: BookingLoad.environment) { stack in
                // Eight fans, one connection each in the client's pool (eight per host): a request
                // queued in the client for a connection would otherwise count as in progress while
                // the server has never seen it.
                let (load, running) = try await BookingLoad.start(on: stack, fans: 8, untilPaid: 5)
                defer { running.cancel() }
                let process = try #require(stack.process(name))
                // The gateway's own requests take milliseconds; to have some truly in progress when it
                // is told to stop, concert is frozen first, so holds wait on it (up to the 3 s deadline).
                let frozen = name == "gateway" ? stack.process("concert") : nil
                frozen?.signal(SIGSTOP)
                if frozen != nil { try await Task.sleep(for: .milliseconds(600)) }
                let signalled = ContinuousClock.now
                process.signal(SIGTERM)
                if let frozen {
                    try await Task.sleep(for: .milliseconds(400))
                    frozen.signal(SIGCONT)
                }
                let exited = await process.waitForExit(timeout: .seconds(20))
                let took = ContinuousClock.now - signalled
                #expect(exited, "\(name) still running 20 s after SIGTERM")
                #expect(process.exitStatus == 0, "\(name) exit status \(String(describing: process.exitStatus))")

                // Started again, as systemd or Kubernetes would, and the bookings go on.
                try stack.restart(name)
                let paidBefore = load.paid
                #expect(await eventually(timeout: .seconds(20)) { load.paid > paidBefore }, "\(tally(load.exchanges))\n\(stack.logs)")
                load.stop()
                await running.value

                let exchanges = load.exchanges
                // Not a contract answer: a 500, a malformed problem, or no answer at all. With the gateway
                // alive there must be none. When the gateway itself stops, a request it was already
                // working on must still be answered; one sent around or after the signal may meet a
                // closed port (that is what stopping means), but never a 500.
                let margin = Duration.milliseconds(100)
                let broken = exchanges.filter { exchange in
                    guard !exchange.isContractAnswer else { return false }
                    if exchange.status != nil { return true }
                    if name != "gateway" { return true }
                    return exchange.started < signalled - margin && exchange.ended > signalled
                }
                let inFlight = exchanges.filter { $0.started < signalled && $0.ended > signalled }
                print("graceful stop of \(name): exited after \(seconds(took)) s; \(inFlight.count) requests in flight at SIGTERM (\(inFlight.filter { $0.status != nil }.count) answered, \(inFlight.filter { $0.started < signalled - margin }.count) of them sent over 100 ms before it); \(load.paid) paid; \(exchanges.count) requests: \(tally(exchanges).sorted { $0.key < $1.key })")
                #expect(broken.isEmpty, "\(broken.prefix(5))")
                if name == "gateway" {
                    #expect(inFlight.contains { $0.started < signalled - margin }, "no request was in progress at SIGTERM")
                }
                #expect(!exchanges.contains { $0.status == 500 })

                await stack.stopAll()
                let data = try #require(stack.environment["DATA_DIR"])
                let integrity = StorageInvariants.integrity(dataDirectory: data)
                #expect(integrity.values.allSatisfy { $0 == "ok" }, "\(integrity)")
                let violations = try StorageInvariants(dataDirectory: data).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }
    }
}
