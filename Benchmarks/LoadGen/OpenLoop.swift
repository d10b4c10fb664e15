import Foundation
import Histogram
import Synchronization

/// Latencies (microseconds, in HDR histograms) and outcomes of one phase, shared by its tasks.
final class Recorder: Sendable {
    private struct State {
        var latencies: [String: Histogram<UInt64>] = [:]
        var outcomes: [String: Int] = [:]
        var finished = 0
    }
    private let state = Mutex(State())

    /// Records how long `operation` took, measured from when it was meant to start.
    func record(_ operation: String, since intended: ContinuousClock.Instant, outcome: String) {
        let micros = UInt64(max(0, (ContinuousClock.now - intended) / .microseconds(1)))
        state.withLock { state in
            state.latencies[operation, default: Histogram(highestTrackableValue: 120_000_000)].record(micros)
            state.outcomes["\(operation) \(outcome)", default: 0] += 1
        }
    }

    func finishedOne() { state.withLock { $0.finished += 1 } }

    var finished: Int { state.withLock { $0.finished } }
    var outcomes: [String: Int] { state.withLock { $0.outcomes } }
    func histogram(_ operation: String) -> Histogram<UInt64>? { state.withLock { $0.latencies[operation] } }
    var operations: [String] { state.withLock { $0.latencies.keys.sorted() } }
}

/// What an open-loop phase did: the rate asked for, what was achieved, and each operation's latencies.
struct PhaseResult: Codable, Sendable {
    let name: String
    let targetRate: Double
    let arrivals: Int
    let seconds: Double
    /// Arrivals completed per second, from the first intended start to the last completion.
    let achievedRate: Double
    let latencies: [String: LatencySummary]
    let outcomes: [String: Int]
    /// CPU time each process of the stack spent per unit of work during the phase, in milliseconds,
    /// and the outcome counted as the unit (`pay 201`: a booking paid).
    var cpuPerUnit: [String: Double] = [:]
    var cpuUnit = "arrival"
    /// Context switches (voluntary and not, over every thread) each process made per unit: the
    /// thread wake-ups behind the CPU figure. Threads that ended during the phase are not counted.
    var switchesPerUnit: [String: Double] = [:]
    /// RPC requests each process sent again during the phase (no answer in time, or turned away
    /// busy): above zero, part of the CPU figure paid for overload, not for the work.
    var resends: [String: Int] = [:]
}

/// One operation's latency distribution, in milliseconds.
struct LatencySummary: Codable, Sendable {
    let count: UInt64
    let p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double

    init(_ histogram: Histogram<UInt64>) {
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        count = histogram.totalCount
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        max = ms(histogram.max)
        mean = histogram.mean.rounded() / 1000
    }
}

/// Sends `arrivals` jobs at a fixed `rate`, each started at its own intended time whether or not the
/// earlier ones have finished (open loop), and waits for all of them. Jobs record their latency from
/// the intended start they are given, so a stall in the system shows as latency of everything
/// scheduled during it, instead of silently slowing the sender down (no coordinated omission).
/// Progress goes to standard error once a second.
func openLoop(
    _ name: String,
    rate: Double,
    arrivals: Int,
    job: @escaping @Sendable (_ index: Int, _ intended: ContinuousClock.Instant, _ recorder: Recorder) async -> Void
) async -> PhaseResult {
    let recorder = Recorder()
    let interval = Duration.seconds(1 / rate)
    let start = ContinuousClock.now + .milliseconds(20)
    let progress = Task {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            let elapsed = (ContinuousClock.now - start) / .seconds(1)
            let sent = min(arrivals, Int(max(0, elapsed) * rate))
            log("  \(name): \(String(format: "%.0f", elapsed))s, \(sent) sent, \(recorder.finished) done of \(arrivals)")
        }
    }
    await withTaskGroup(of: Void.self) { group in
        for index in 0..<arrivals {
            let intended = start + interval * index
            if intended > .now { try? await Task.sleep(until: intended, tolerance: .microseconds(200)) }
            group.addTask {
                await job(index, intended, recorder)
                recorder.finishedOne()
            }
        }
    }
    progress.cancel()
    let elapsed = (ContinuousClock.now - start) / .seconds(1)
    var latencies: [String: LatencySummary] = [:]
    for operation in recorder.operations {
        if let histogram = recorder.histogram(operation) { latencies[operation] = LatencySummary(histogram) }
    }
    return PhaseResult(name: name, targetRate: rate, arrivals: arrivals, seconds: elapsed,
                       achievedRate: Double(arrivals) / elapsed, latencies: latencies, outcomes: recorder.outcomes)
}

/// Runs `count` jobs with at most `width` at once (closed loop): for setting up users and filling
/// the line before a phase, as fast as the stack allows.
func closedLoop(count: Int, width: Int, job: @escaping @Sendable (Int) async -> Void) async {
    let next = Counter()
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<min(width, count) {
            group.addTask {
                while true {
                    let index = next.next()
                    guard index < count else { return }
                    await job(index)
                }
            }
        }
    }
}

/// A number shared by tasks: each `next()` answers the one after the last (0 first).
final class Counter: Sendable {
    private let value = Mutex(0)

    func next() -> Int { value.withLock { value in defer { value += 1 }; return value } }
    var count: Int { value.withLock { $0 } }
}

/// A line of progress on standard error, so that the report on standard output stays clean.
func log(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
