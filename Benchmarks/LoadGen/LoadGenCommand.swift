import ArgumentParser
import Foundation

/// `loadgen`: the benchmarks of `make bench` (issue 7). `loadgen bench` starts the real stack, runs
/// each scenario beside the baseline measured in the same run, and writes a JSON and a Markdown
/// report. `hello-server` and `zmq-echo` are the baselines' own server processes, started by `bench`.
@main
struct LoadGenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadgen",
        abstract: "Open-loop load generator and same-run baselines for the concert-ticketing stack.",
        subcommands: [BenchCommand.self, HelloServerCommand.self, ZMQEchoCommand.self],
        defaultSubcommand: BenchCommand.self
    )
}

/// Runs every baseline and scenario and writes the reports.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Run the baselines and scenarios; write the reports.")

    @Option(help: "Folder for report.json and report.md.")
    var out = "docs/benchmarks"

    @Option(help: "Seconds each open-loop phase sends for.")
    var seconds = 10.0

    @Option(help: "Arrival rate of full bookings (hold, then pay) per second in the flash sale.")
    var bookingRate = 1500.0

    @Option(help: "Arrival rate of seat-map reads per second for the read path's latency (its capacity is measured apart).")
    var readRate = 1000.0

    @Option(help: "Arrival rate of token issues per second in the waiting-room scenario.")
    var tokenRate = 10_000.0

    @Option(help: "Most connections the load generator opens to one HTTP server.")
    var connections = 128

    @Flag(help: "A short run (fewer users, 3-second phases) to check that everything works.")
    var quick = false

    @Option(parsing: .upToNextOption, help: "Run only these scenarios (hop, read, flash, room, admission); the baselines always run.")
    var only: [String] = []

    func run() async throws {
        var settings = BenchSettings(seconds: seconds, bookingRate: bookingRate, readRate: readRate,
                                     tokenRate: tokenRate, connections: connections, only: only)
        if let unknown = only.first(where: { !BenchSettings.scenarioNames.contains($0) }) {
            throw ValidationError("no scenario \(unknown): choose from \(BenchSettings.scenarioNames.joined(separator: ", "))")
        }
        if quick { settings = settings.quick }
        let report = try await Bench(settings: settings).run()
        try ReportWriter(folder: out).write(report)
        print("loadgen: wrote \(out)/report.md and \(out)/report.json")
    }
}

/// What one `bench` run does; `quick` scales it down for a smoke run.
struct BenchSettings: Codable, Sendable {
    var seconds: Double
    var bookingRate: Double
    var readRate: Double
    var tokenRate: Double
    var connections: Int
    var only: [String] = []

    static let scenarioNames = ["hop", "read", "flash", "room", "admission"]

    func runs(_ scenario: String) -> Bool { only.isEmpty || only.contains(scenario) }

    var quick: BenchSettings {
        BenchSettings(seconds: 3, bookingRate: min(bookingRate, 200), readRate: min(readRate, 500),
                      tokenRate: min(tokenRate, 1000), connections: min(connections, 32), only: only)
    }

    /// How long the flash sale and the token issues send. Each arrival there is a user of its own,
    /// set up beforehand, and far past what the stack can take the backlog only grows: a few
    /// seconds at the target rate show the rate reached and the latency it costs.
    var burstSeconds: Double { min(seconds, 3) }
}
