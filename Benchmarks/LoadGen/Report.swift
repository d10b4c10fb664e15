import Foundation

/// Everything one `bench` run measured, written as report.json and report.md.
struct BenchReport: Codable {
    let machine: Machine
    let settings: BenchSettings
    var startedAt = Date()
    var finishedAt = Date()
    var baselines: [String: Measure] = [:]
    var scenarios: [ScenarioRow] = []
    var phases: [PhaseResult] = []
    var memory: [ProcessMemory] = []
    var invariantViolations: [String] = []
}

/// A figure: a latency distribution, or a rate with the latency of its requests.
enum Measure: Codable {
    case latency(LatencySummary)
    case rate(Double, LatencySummary?)
    /// A rate as wrk read it, with the percentiles it prints.
    case wrk(Wrk.Capacity)

    var text: String {
        switch self {
        case .latency(let l): String(format: "p50 %.3f ms, p99 %.3f ms", l.p50, l.p99)
        case .rate(let r, let l): String(format: "%.0f/s", r) + (l.map { String(format: " (p50 %.2f ms, p99 %.2f ms)", $0.p50, $0.p99) } ?? "")
        case .wrk(let capacity): capacity.text
        }
    }
}

/// One scenario beside its baseline and target.
struct ScenarioRow: Codable {
    let name: String
    let measured: Measure?
    let baseline: String?
    let target: String
    let met: Bool
    let figure: String
}

/// A process's memory when idle: resident (VmRSS), its proportional share (PSS: pages shared with
/// the other services, the Swift runtime and Foundation among them, divided among their users) and
/// what is its own alone (private); and its peak resident size (VmHWM) by the end of the run.
struct ProcessMemory: Codable {
    let name: String
    var idleKiB: Int
    var idleProportionalKiB: Int
    var idlePrivateKiB: Int
    var peakKiB: Int

    init(name: String, pid: Int32?) {
        self.name = name
        func fields(_ file: String) -> [String: Int] {
            let text = pid.flatMap { try? String(contentsOfFile: "/proc/\($0)/\(file)", encoding: .utf8) } ?? ""
            var found: [String: Int] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if parts.count >= 2, parts[0].hasSuffix(":"), let value = Int(parts[1]) { found[String(parts[0].dropLast())] = value }
            }
            return found
        }
        let status = fields("status"), rollup = fields("smaps_rollup")
        idleKiB = status["VmRSS"] ?? 0
        peakKiB = status["VmHWM"] ?? 0
        idleProportionalKiB = rollup["Pss"] ?? 0
        idlePrivateKiB = (rollup["Private_Clean"] ?? 0) + (rollup["Private_Dirty"] ?? 0)
    }
}

/// The machine a run came from: figures from different machines are not comparable.
struct Machine: Codable {
    let host: String
    let cpu: String
    let cores: Int
    let memoryGiB: Double
    let kernel: String
    let dataDisk: String

    static func current() -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?
            .trimmingCharacters(in: .whitespaces) ?? "unknown"
        var name = utsname()
        uname(&name)
        func text<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        let tmp = NSTemporaryDirectory()
        // The longest mount point that holds the temporary folder is where the SQLite files live.
        let entries: [[String]] = mounts.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        let holding = entries.filter { $0.count > 2 && tmp.hasPrefix($0[1]) }
        let best = holding.max { $0[1].count < $1[1].count }
        let disk = best.map { "\($0[0]) on \($0[1]) (\($0[2]))" } ?? "unknown"
        return Machine(host: text(name.nodename), cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
                       memoryGiB: (Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824 * 10).rounded() / 10,
                       kernel: "\(text(name.sysname)) \(text(name.release))", dataDisk: disk)
    }

    var summary: String { "\(cpu), \(cores) cores, \(memoryGiB) GiB, \(kernel), data on \(dataDisk)" }
}

/// Writes report.json (everything) and report.md (the tables a person reads).
struct ReportWriter {
    let folder: String

    func write(_ report: BenchReport) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(report).write(to: URL(fileURLWithPath: "\(folder)/report.json"))
        try markdown(report).write(toFile: "\(folder)/report.md", atomically: true, encoding: .utf8)
        print(markdown(report))
    }

    func markdown(_ report: BenchReport) -> String {
        let date = ISO8601DateFormatter().string(from: report.startedAt)
        var lines = [
            "# Benchmark report", "",
            "Written by `make bench` (`loadgen bench`) on \(date), in \(Int(report.finishedAt.timeIntervalSince(report.startedAt))) s.",
            "", "Machine: \(report.machine.summary).", "",
            String(format: "Settings: %.0f s phases; offered %.0f bookings/s, %.0f seat reads/s, %.0f token issues/s; up to %d connections.",
                   report.settings.seconds, report.settings.bookingRate, report.settings.readRate, report.settings.tokenRate, report.settings.connections),
            "", "## Baselines, measured in this run", "", "| baseline | figure |", "|---|---|",
        ]
        lines += report.baselines.keys.sorted().map { "| \($0) | \(report.baselines[$0]!.text) |" }
        lines += ["", "## Scenarios against their targets", "", "| scenario | target | met | figures |", "|---|---|---|---|"]
        lines += report.scenarios.map { "| \($0.name) | \($0.target) | \($0.met ? "yes" : "**no**") | \($0.figure) |" }
        lines += ["", "## Open-loop phases", "",
                  "Latency is measured from each request's intended send time (open loop), in milliseconds.", "",
                  "| phase | offered/s | achieved arrivals/s | operation | count | p50 | p90 | p99 | p99.9 | max |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for phase in report.phases {
            for (operation, l) in phase.latencies.sorted(by: { $0.key < $1.key }) {
                lines.append("| \(phase.name) | " + String(format: "%.0f | %.0f | ", phase.targetRate, phase.achievedRate) + "\(operation) | \(l.count) | "
                             + String(format: "%.2f | %.2f | %.2f | %.2f | %.2f |", l.p50, l.p90, l.p99, l.p999, l.max))
            }
            let cpu = phase.cpuPerUnit.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.2f", $0.value) }
            let outcomes = phase.outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            lines.append("| \(phase.name) | | | outcomes | \(outcomes) | | | | | |")
            if !cpu.isEmpty { lines.append("| \(phase.name) | | | CPU ms per \(phase.cpuUnit) | \(cpu.joined(separator: ", ")) | | | | | |") }
            let switches = phase.switchesPerUnit.sorted { $0.key < $1.key }.map { "\($0.key) " + String(format: "%.1f", $0.value) }
            if !switches.isEmpty { lines.append("| \(phase.name) | | | context switches per \(phase.cpuUnit) | \(switches.joined(separator: ", ")) | | | | | |") }
            let resends = phase.resends.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            if !resends.isEmpty { lines.append("| \(phase.name) | | | RPC resends in the phase | \(resends.joined(separator: ", ")) | | | | | |") }
        }
        lines += ["", "## Memory (MiB)", "",
                  "Resident (RSS) counts every page a process maps, the shared libraries' too; PSS divides shared pages among the processes that map them; private pages are the process's alone.",
                  "", "| process | idle RSS | idle PSS | idle private | peak RSS |", "|---|---|---|---|---|"]
        lines += report.memory.map {
            "| \($0.name) | " + String(format: "%.1f | %.1f | %.1f | %.1f |", Double($0.idleKiB) / 1024, Double($0.idleProportionalKiB) / 1024,
                                         Double($0.idlePrivateKiB) / 1024, Double($0.peakKiB) / 1024)
        }
        lines += ["", "## Invariants (CONTRACT §4) on the SQLite files after the run", ""]
        lines.append(report.invariantViolations.isEmpty ? "All hold." : report.invariantViolations.prefix(20).map { "- \($0)" }.joined(separator: "\n"))
        return lines.joined(separator: "\n") + "\n"
    }
}
