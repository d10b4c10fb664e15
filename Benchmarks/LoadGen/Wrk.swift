import Foundation

/// HTTP capacity as `wrk` measures it (Debian's `wrk`, which `make bench` installs): a C client
/// that costs a fraction of the load generator's Swift client per request. Both share the two
/// cores with the server they measure, so a capacity read by the heavier client is capped by the
/// client as much as by the server, and most for the fastest server: the hello world. Its ratios
/// beside wrk's say how much.
enum Wrk {
    /// What one `wrk` run read: requests a second, how many answers were not 2xx or 3xx (or never
    /// came), and the latency distribution's median and 99th percentile.
    struct Capacity: Codable, Sendable {
        let perSecond: Double
        let requests: Int
        let failed: Int
        let p50: Double, p99: Double

        /// Requests a second answered 2xx or 3xx: a failed answer is cheap and must not count.
        var goodPerSecond: Double { requests == 0 ? 0 : perSecond * Double(requests - failed) / Double(requests) }
        var text: String {
            String(format: "%.0f/s (p50 %.2f ms, p99 %.2f ms", goodPerSecond, p50, p99) + (failed == 0 ? ")" : ", \(failed) failed)")
        }
    }

    static let threads = 2
    static let connections = 32

    /// Where `wrk` is on PATH, if it is.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/wrk" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// `wrk -t2 -c32 -d<seconds>s --latency` against `url` with `headers` on every request. It
    /// blocks the calling thread for the run, which wrk ends itself after `seconds` (each request
    /// within `--timeout`); nothing else of the load generator runs meanwhile.
    static func capacity(_ executable: String, url: String, headers: [(String, String)] = [], seconds: Double) throws -> Capacity {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-t\(threads)", "-c\(connections)", "-d\(max(1, Int(seconds.rounded())))s", "--timeout", "10s", "--latency"]
            + headers.flatMap { ["-H", "\($0.0): \($0.1)"] } + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0, let capacity = parse(text) else {
            throw BenchError.setup("wrk failed (status \(process.terminationStatus)): \(text)")
        }
        return capacity
    }

    /// Reads wrk's summary: `Requests/sec:`, the `--latency` percentiles, `N requests in`, and the
    /// lines it prints only when something failed (`Non-2xx or 3xx responses:`, `Socket errors:`).
    static func parse(_ text: String) -> Capacity? {
        var perSecond: Double?, requests = 0, failed = 0
        var percentiles: [String: Double] = [:]
        for line in text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            if line.hasPrefix("Requests/sec:"), let last = words.last { perSecond = Double(last) }
            if line.contains(" requests in "), let first = words.first { requests = Int(first) ?? 0 }
            if line.hasPrefix("Non-2xx or 3xx responses:"), let last = words.last { failed += Int(last) ?? 0 }
            if line.hasPrefix("Socket errors:") {
                // "Socket errors: connect 0, read 0, write 0, timeout 0"
                failed += words.compactMap { Int($0.trimmingCharacters(in: CharacterSet(charactersIn: ","))) }.reduce(0, +)
            }
            if words.count == 2, words[0].hasSuffix("%"), let value = milliseconds(words[1]) { percentiles[words[0]] = value }
        }
        guard let perSecond, let p50 = percentiles["50%"], let p99 = percentiles["99%"] else { return nil }
        return Capacity(perSecond: perSecond, requests: requests, failed: failed, p50: p50, p99: p99)
    }

    /// `812.00us`, `1.23ms`, `2.01s` in milliseconds.
    static func milliseconds(_ text: String) -> Double? {
        for (unit, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * scale }
        }
        return nil
    }
}

