import ArgumentParser
import Foundation

/// `chaos`: virtual users book through the gateway while backend processes (and, in the long form,
/// gateways) are killed with SIGKILL and restarted, or frozen with SIGSTOP and resumed. When the load
/// stops and the stack settles, every promise is checked: CONTRACT §4 on the SQLite files, every
/// saga ended, every payment and charge a client saw acknowledged kept, every answer a contract
/// answer within its deadline. Prints what it did and what it found; exits 1 on any violation.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract: "Book through the real stack while killing and freezing its processes, then check every invariant."
    )

    @Flag(help: "The short form run by make test: about 30 s of load, each backend killed once and frozen once.")
    var quick = false

    @Option(help: "Seconds of load (default: 30 quick, 240 long).")
    var seconds: Double?

    @Option(help: "Virtual users booking at once (default: 16 quick, 32 long).")
    var users: Int?

    @Option(help: "SIGKILLs per backend (default: 1 quick, 5 long).")
    var killsPerBackend: Int?

    @Option(help: "SIGSTOPs per backend (default: 1 quick, 2 long).")
    var freezesPerBackend: Int?

    @Option(help: "SIGKILLs of the gateway (default: 0 quick, 3 long).")
    var gatewayKills: Int?

    @Option(help: "Seed of the fault plan and the users' choices (default: random, printed).")
    var seed: UInt64?

    @Option(help: "Write the run's report as JSON to this file.")
    var report: String?

    @Flag(help: "Keep the stack's folder (SQLite files and logs) even when the run passes.")
    var keep = false

    func run() async throws {
        var settings = quick ? ChaosSettings.quick : ChaosSettings.long
        if let seconds { settings.loadSeconds = seconds }
        if let users { settings.users = users }
        if let killsPerBackend { settings.killsPerBackend = killsPerBackend }
        if let freezesPerBackend { settings.freezesPerBackend = freezesPerBackend }
        if let gatewayKills { settings.gatewayKills = gatewayKills }
        settings.seed = seed ?? UInt64.random(in: 1...UInt64(UInt32.max))
        guard settings.loadSeconds > 0, settings.users > 0, settings.killsPerBackend >= 0, settings.freezesPerBackend >= 0,
              settings.gatewayKills >= 0 else {
            throw ValidationError("seconds and users must be positive, fault counts zero or more")
        }

        let outcome = try await ChaosRun(settings: settings).run(keepFolder: keep)
        if let report {
            try outcome.json().write(to: URL(fileURLWithPath: report))
            say("chaos: wrote \(report)")
        }
        if !outcome.passed { throw ExitCode(1) }
    }
}

/// What one run does.
struct ChaosSettings: Codable, Sendable {
    var loadSeconds: Double
    var users: Int
    var killsPerBackend: Int
    var freezesPerBackend: Int
    var gatewayKills: Int
    /// Holds lapse quickly, so users who walk away and users who pay too late are part of every run.
    var holdSeconds: Double = 3
    /// CONTRACT §3: an answer, 503 at worst, within 3 seconds. A request is late past this plus `deadlineMargin`
    /// (client-side timing on a busy 2-core machine includes the client's own scheduling).
    var deadlineSeconds: Double = 3
    var deadlineMargin: Double = 1
    var seed: UInt64 = 0

    static let quick = ChaosSettings(loadSeconds: 30, users: 16, killsPerBackend: 1, freezesPerBackend: 1, gatewayKills: 0)
    static let long = ChaosSettings(loadSeconds: 240, users: 32, killsPerBackend: 5, freezesPerBackend: 2, gatewayKills: 3)

    /// The stack's settings: admission at once and room for everyone (the waiting room is not what
    /// is under test here), short holds, an admin token to create the run's own concert.
    var environment: [String: String] {
        ["QUEUE_ADMIT_PER_SECOND": "1000", "QUEUE_MAX_ACTIVE": "100000", "HOLD_SECONDS": "\(holdSeconds)",
         "ADMIN_TOKEN": ChaosRun.adminToken, "LOG_LEVEL": "notice"]
    }
}

/// Prints a line at once, unbuffered even into a file or a pipe, so a long run shows its progress as it goes.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
