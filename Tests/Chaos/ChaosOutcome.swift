import Foundation
import TestSupport

/// What a chaos run did and found: printed for the operator, and written as JSON for the record.
struct ChaosOutcome: Sendable {
    let settings: ChaosSettings
    let loadSeconds: Double
    let seats: Int
    let faults: [Monkey.Fault]
    let exchanges: [Exchange]
    let acks: Acknowledgements.State
    let verdict: Verdict

    var passed: Bool { verdict.passed }

    private var latencies: (max: Double, overContract: Int) {
        let contract = Duration.milliseconds(Int(settings.deadlineSeconds * 1000))
        return (exchanges.map { seconds($0.elapsed) }.max() ?? 0, exchanges.filter { $0.elapsed > contract }.count)
    }

    func report() {
        let kills = Dictionary(grouping: faults) { "\($0.process) \($0.action.rawValue)" }.mapValues(\.count)
        say("chaos: faults: \(faults.count) — \(kills.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))")
        say("chaos: \(exchanges.count) requests by outcome:")
        for (outcome, count) in tally(exchanges).sorted(by: { $0.key < $1.key }) {
            say(String(format: "chaos:   %7d  %@", count, outcome))
        }
        let charged = acks.charged.values.reduce(0) { $0 + $1.count }
        say("chaos: acknowledged: \(acks.holds.count) holds, \(acks.payments.count) payments, \(charged) top-ups, \(acks.canceled.count) cancels, \(acks.lapsed.count) holds lapsed")
        say(String(format: "chaos: slowest answer %.2f s; %d answered after the contract's %.0f s (a %.0f s margin allowed)",
                           latencies.max, latencies.overContract, settings.deadlineSeconds, settings.deadlineMargin))
        say(String(format: "chaos: at rest %.1f s after the load stopped", verdict.settleSeconds))
        for check in verdict.checks {
            say("chaos: \(check.violations.isEmpty ? "ok  " : "FAIL") \(check.name)\(check.violations.isEmpty ? "" : " (\(check.violations.count))")")
        }
        if let first = verdict.firstViolation {
            say("chaos: FAILED; first violation: \(first)")
        } else {
            say("chaos: PASSED: \(verdict.checks.count) checks, 0 violations")
        }
    }

    func json() throws -> Data {
        struct Report: Encodable {
            let settings: ChaosSettings
            let machine: [String: String]
            let loadSeconds: Double
            let seats: Int
            let faults: [Monkey.Fault]
            let requests: [String: Int]
            let acknowledged: [String: Int]
            let slowestAnswerSeconds: Double
            let answersOverContractDeadline: Int
            let verdict: Verdict
            let passed: Bool
        }
        let report = Report(
            settings: settings,
            machine: ["cores": "\(ProcessInfo.processInfo.activeProcessorCount)",
                      "memoryGiB": String(format: "%.1f", Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824),
                      "os": ProcessInfo.processInfo.operatingSystemVersionString],
            loadSeconds: loadSeconds, seats: seats, faults: faults, requests: tally(exchanges),
            acknowledged: ["holds": acks.holds.count, "payments": acks.payments.count, "cancels": acks.canceled.count,
                           "lapsed": acks.lapsed.count, "topUps": acks.charged.values.reduce(0) { $0 + $1.count }],
            slowestAnswerSeconds: latencies.max, answersOverContractDeadline: latencies.overContract,
            verdict: verdict, passed: passed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(report)
    }
}
