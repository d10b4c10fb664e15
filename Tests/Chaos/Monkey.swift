import Foundation
import Synchronization
import TestSupport

/// The faults of a chaos run: each backend (and the gateway, in the long form) killed with SIGKILL
/// and started again within 2 seconds, as `make run`'s supervisor or systemd would, or frozen with
/// SIGSTOP for a few seconds and resumed. The plan is shuffled by the run's seed and spread evenly
/// over the load, one fault at a time.
final class Monkey: Sendable {
    enum Action: String, Codable, Sendable {
        case kill = "SIGKILL"
        case freeze = "SIGSTOP"
    }

    /// One fault as it happened: seconds into the load, the process, the signal, how long it was out.
    struct Fault: Codable, Sendable {
        let at: Double
        let process: String
        let action: Action
        let outSeconds: Double
    }

    private let stack: TestStack
    private let started: ContinuousClock.Instant
    private let faults = Mutex<[Fault]>([])
    /// When the gateway could not have answered: from its kill until it served again.
    private let gatewayDown = Mutex<[Range<ContinuousClock.Instant>]>([])
    /// Processes that exited without being killed by the monkey: crashes, with their exit status.
    private let crashes = Mutex<[String]>([])

    /// Called once a killed gateway serves again, so clients can open fresh connections.
    private let gatewayBack: @Sendable () -> Void

    init(stack: TestStack, started: ContinuousClock.Instant, gatewayBack: @escaping @Sendable () -> Void) {
        self.stack = stack
        self.started = started
        self.gatewayBack = gatewayBack
    }

    var record: [Fault] { faults.withLock { $0 } }
    var gatewayOutages: [Range<ContinuousClock.Instant>] { gatewayDown.withLock { $0 } }
    var unexpectedExits: [String] { crashes.withLock { $0 } }

    /// The plan for `settings`, shuffled by its seed.
    static func plan(_ settings: ChaosSettings) -> [(process: String, action: Action)] {
        var plan: [(String, Action)] = []
        for backend in TestStack.backends {
            plan += Array(repeating: (backend, .kill), count: settings.killsPerBackend)
            plan += Array(repeating: (backend, .freeze), count: settings.freezesPerBackend)
        }
        plan += Array(repeating: ("gateway", .kill), count: settings.gatewayKills)
        var random = SeededGenerator(seed: settings.seed)
        return plan.shuffled(using: &random)
    }

    /// Carries out `plan` over `duration`, one fault per slot, in order.
    func run(_ plan: [(process: String, action: Action)], over duration: Duration, seed: UInt64) async {
        guard !plan.isEmpty else { return }
        var random = SeededGenerator(seed: seed ^ 0xC4A0_5C4A_05C4_A05C)
        let slot = duration / (plan.count + 1)
        for (index, fault) in plan.enumerated() {
            // Jittered within its slot, so kills land at any point of a request, not on a beat.
            let jitter = Double.random(in: -0.25...0.25, using: &random)
            let due = started + slot * (index + 1) + slot * jitter
            try? await Task.sleep(until: due, clock: .continuous)
            noteCrashes()
            let began = ContinuousClock.now
            switch fault.action {
            case .kill:
                await kill(fault.process, restartAfter: .milliseconds(Int.random(in: 200...1500, using: &random)))
            case .freeze:
                await freeze(fault.process, for: .milliseconds(Int.random(in: 1000...4000, using: &random)))
            }
            let out = seconds(ContinuousClock.now - began)
            let fault = Fault(at: seconds(began - started), process: fault.process, action: fault.action, outSeconds: out)
            faults.withLock { $0.append(fault) }
            say(String(format: "chaos: %6.1f s  %@ %@, out %.1f s", fault.at, fault.action.rawValue, fault.process, out))
        }
    }

    /// Brings every process back: resumes any frozen one, restarts any that is not running.
    func restoreAll() async throws {
        noteCrashes()
        for name in TestStack.all {
            stack.process(name)?.signal(SIGCONT)
            if stack.process(name)?.isRunning != true {
                try stack.restart(name, appendingLog: true)
            }
        }
    }

    private func kill(_ name: String, restartAfter delay: Duration) async {
        let down = ContinuousClock.now
        stack.process(name)?.signal(SIGKILL)
        _ = await stack.process(name)?.waitForExit(timeout: .seconds(5))
        try? await Task.sleep(for: delay)
        do {
            try stack.restart(name, appendingLog: true)
        } catch {
            crashes.withLock { $0.append("\(name) could not be restarted: \(error)") }
            return
        }
        if name == "gateway" {
            // Down until it serves again: a request sent meanwhile may meet a closed port, as it would in life.
            _ = await eventually(timeout: .seconds(20), interval: .milliseconds(20)) {
                (try? await stack.send("GET", "/healthz", timeout: .seconds(1)))?.status == 200
            }
            let up = ContinuousClock.now
            gatewayDown.withLock { $0.append(down..<up) }
            gatewayBack()
        } else {
            _ = await eventually(timeout: .seconds(20), interval: .milliseconds(50)) {
                ((try? await stack.run(name, ["probe", "ping", "--timeout", "0.5"], timeout: .seconds(3)))?.status ?? -1) == 0
            }
        }
    }

    private func freeze(_ name: String, for pause: Duration) async {
        stack.process(name)?.signal(SIGSTOP)
        try? await Task.sleep(for: pause)
        stack.process(name)?.signal(SIGCONT)
    }

    /// Records every process that has exited though nobody killed it, and starts it again.
    func noteCrashes() {
        for name in TestStack.all {
            guard let process = stack.process(name), let status = process.exitStatus else { continue }
            let tail = process.log.split(separator: "\n").suffix(5).joined(separator: "\n")
            crashes.withLock { $0.append("\(name) exited by itself with status \(status):\n\(tail)") }
            try? stack.restart(name, appendingLog: true)
        }
    }
}
