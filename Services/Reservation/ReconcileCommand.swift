import ArgumentParser
import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit

/// `reservation reconcile [--repair]`: asks the running reservation service to compare itself with
/// concert and payment and, with `--repair`, to compensate every difference (DESIGN §6). Run it
/// after restoring a backup. Exit 0 when the services agree (or now do), 1 when differences remain,
/// 2 when the service did not answer.
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare reservations, seats and payments across the services; with --repair, compensate each difference.",
        discussion: """
        Prints the report as JSON: what was compared, every difference, the compensation for it, and \
        whether it was applied. Reservations a saga is working on are left to it. Safe to run again.
        """
    )

    @Flag(help: "Apply the compensations (otherwise only report them).")
    var repair = false

    @Option(help: "The reservation service's request endpoint (default: RESERVATION_RPC).")
    var endpoint: String?

    @Option(help: "Seconds to wait for the report.")
    var timeout: Double = 120

    func validate() throws {
        try Probe.validate(timeout: timeout)
    }

    func run() async throws {
        let target = try endpoint ?? ServiceRunner.loadConfiguration().endpoints(of: .reservation).rpc
        var logger = Logger(label: "reconcile")
        logger.logLevel = .critical
        let client = try RPCClient(endpoint: target, logger: logger, defaultTimeout: .seconds(timeout))
        let report: ReconcileReport
        do {
            report = try await client.call(ReservationAPI.reconcile, ReconcileRequest(repair: repair), timeout: .seconds(timeout))
            await client.close()
        } catch {
            await client.close()
            FileHandle.standardError.write(Data("reconcile: no report from \(target) within \(timeout)s: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        // Written at once, not through print's buffer, so the summary on stderr never lands inside it.
        FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
        let repaired = report.findings.filter { $0.outcome == .repaired }.count
        FileHandle.standardError.write(Data("""
            reconcile: \(report.reservations) reservations, \(report.claimedSeats) held or sold seats, \(report.payments) payments; \
            \(report.findings.count) differences, \(repaired) repaired, \(report.inProgress) left to running sagas\n
            """.utf8))
        if !report.consistent { throw ExitCode.failure }
    }
}
