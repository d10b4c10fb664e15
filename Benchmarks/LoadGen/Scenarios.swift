import Contracts
import Foundation
import GRDB
import Histogram
import Logging
import Messaging
import Synchronization
import TestSupport

/// A signed-up user with an active waiting-room token.
struct Fan: Sendable {
    let apiKey: String
    var token: String?

    var auth: [(String, String)] { [("Authorization", "Bearer \(apiKey)")] }
    var gated: [(String, String)] { auth + (token.map { [("X-Queue-Token", $0)] } ?? []) }
}

/// Where the hot-seat variant sends most users: a few schedules everyone wants.
enum FlashVariant: String, CaseIterable, Codable {
    case spread = "spread over many schedules"
    case hotSeats = "hot seats (90% of users on 2 schedules)"
}

/// The scenarios of issue 7, against a running stack.
struct Scenarios {
    let stack: TestStack
    let client: LoadClient
    let settings: BenchSettings

    /// Runs a phase and adds the CPU time each process of the stack spent per unit of work done in
    /// it (`unit` names the outcome counted; by default every arrival): where a shortfall's time goes.
    func withCPU(unit: String? = nil, _ phase: @autoclosure () async -> PhaseResult) async -> PhaseResult {
        let resendsBefore = await resends()
        let before = cpuSeconds()
        let switchesBefore = contextSwitches()
        var result = await phase()
        let after = cpuSeconds()
        let switchesAfter = contextSwitches()
        let resendsAfter = await resends()
        let units = Double(max(1, unit.map { result.outcomes[$0] ?? 0 } ?? result.arrivals))
        result.cpuUnit = unit ?? "arrival"
        for (name, seconds) in after {
            result.cpuPerUnit[name] = ((seconds - (before[name] ?? 0)) * 1000 / units * 1000).rounded() / 1000
        }
        for (name, threads) in switchesAfter {
            // Per thread: one that ended during the phase takes its count with it, and a new one
            // (a reused id counting from zero included) counts from zero.
            let switches = threads.reduce(0) { total, thread in
                let before = switchesBefore[name]?[thread.key] ?? 0
                return total + (thread.value >= before ? thread.value - before : thread.value)
            }
            result.switchesPerUnit[name] = (Double(switches) / units * 10).rounded() / 10
        }
        for (name, count) in resendsAfter {
            result.resends[name] = count - (resendsBefore[name] ?? 0)
        }
        return result
    }

    /// RPC requests each process of the stack has sent again so far: a backend says in its ping, the
    /// gateway on `/metrics`. A process that does not answer is left out.
    func resends() async -> [String: Int] {
        var found: [String: Int] = [:]
        for service in ServiceName.allCases {
            guard let endpoint = stack.environment["\(service.rawValue.uppercased())_RPC"],
                  let rpc = try? RPCClient(endpoint: endpoint, logger: Logger(label: "loadgen"), defaultTimeout: .seconds(2)) else { continue }
            if let count = try? await rpc.call(service.ping, Empty()).rpcResends { found[service.rawValue] = count }
            await rpc.close()
        }
        let metrics = await client.send(.GET, "/metrics")
        if let body = metrics.body {
            let line = String(buffer: body).split(separator: "\n").first { $0.hasPrefix("rpc_client_resends_total{service=\"gateway\"} ") }
            if let count = line.flatMap({ Int($0.split(separator: " ").last ?? "") }) { found["gateway"] = count }
        }
        return found
    }

    /// Context switches so far of each thread of each process of the stack, by thread id
    /// (`/proc/<pid>/task/*/status`; the process's own status counts its main thread only).
    func contextSwitches() -> [String: [String: Int]] {
        var found: [String: [String: Int]] = [:]
        for name in TestStack.all {
            guard let pid = stack.process(name)?.pid,
                  let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { continue }
            var counts: [String: Int] = [:]
            for thread in threads {
                guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8) else { continue }
                for line in status.split(separator: "\n") where line.contains("ctxt_switches:") {
                    counts[thread, default: 0] += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
                }
            }
            found[name] = counts
        }
        return found
    }

    /// User plus system CPU seconds so far of each process of the stack, and of the load generator
    /// itself (`loadgen`: it shares the two cores, so what its client costs is CPU the stack lacks),
    /// from /proc.
    func cpuSeconds() -> [String: Double] {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var found: [String: Double] = [:]
        let processes = TestStack.all.compactMap { name in stack.process(name).map { (name, $0.pid) } }
        for (name, pid) in processes + [("loadgen", getpid())] {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let end = stat.lastIndex(of: ")") else { continue }
            // After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            found[name] = (user + system) / ticks
        }
        return found
    }

    // MARK: 1. One service hop

    /// `concert.ping` through the same RPC client the gateway uses, one call after another.
    func hop(count: Int) async throws -> LatencySummary {
        guard let endpoint = stack.environment["CONCERT_RPC"] else { throw BenchError.setup("no CONCERT_RPC") }
        let rpc = try RPCClient(endpoint: endpoint, logger: Logger(label: "loadgen"))
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        do {
            // The first 200 warm the connection up and are not counted.
            for index in 0..<(count + 200) {
                let start = ContinuousClock.now
                _ = try await rpc.call(ServiceName.concert.ping, Empty())
                if index >= 200 { histogram.record(UInt64((ContinuousClock.now - start) / .microseconds(1))) }
            }
        } catch {
            await rpc.close()
            throw error
        }
        await rpc.close()
        return LatencySummary(histogram)
    }

    // MARK: 2. The read path

    struct ReadPath {
        let capacity: (perSecond: Double, latency: LatencySummary)
        let notModified: (perSecond: Double, latency: LatencySummary)
        /// The same two capacities read by wrk, when it is installed.
        let wrk: (full: Wrk.Capacity, notModified: Wrk.Capacity)?
        let openLoop: PhaseResult
    }

    /// Seat maps of one 50-seat schedule: capacity with full answers and with 304s, then latency at a fixed rate.
    func readPath(wrk: String?) async throws -> ReadPath {
        let schedules = try await createSchedules(count: 1, seats: 50, title: "read path")
        let fan = try await makeFans(1, funded: false)[0]
        let path = "/api/v1/schedules/\(schedules[0])/seats"
        let first = await client.send(.GET, path, headers: fan.gated)
        guard first.status == 200, let etag = first.etag else { throw BenchError.setup("seat map answered \(first.status)") }
        let full = await capacity(client, path, headers: fan.gated, seconds: min(settings.seconds, 5), width: settings.connections)
        let cached = await capacity(client, path, headers: fan.gated + [("If-None-Match", etag)], seconds: min(settings.seconds, 5),
                                    width: settings.connections, expect: 304)
        let byWrk = try wrk.map { wrk in
            log("  read path: capacity read by wrk, full maps and then unchanged ones")
            return (full: try Wrk.capacity(wrk, url: stack.baseURL + path, headers: fan.gated, seconds: min(settings.seconds, 5)),
             notModified: try Wrk.capacity(wrk, url: stack.baseURL + path, headers: fan.gated + [("If-None-Match", etag)], seconds: min(settings.seconds, 5)))
        }
        let client = client
        let phase = await withCPU(unit: "seats 200", await openLoop("read path", rate: settings.readRate, arrivals: Int(settings.readRate * settings.seconds)) { _, intended, recorder in
            let answer = await client.send(.GET, path, headers: fan.gated)
            recorder.record("seats", since: intended, outcome: answer.outcome)
        })
        return ReadPath(capacity: full, notModified: cached, wrk: byWrk, openLoop: phase)
    }

    // MARK: 3. The flash sale

    struct FlashSale {
        let phase: PhaseResult
        let bookingsPerSecond: Double
        let oversold: Int
        let soldOut: Int
    }

    /// Every arrival is a user of its own, admitted and funded beforehand, who holds a seat and pays
    /// for it; `rate` arrivals a second (the offered booking rate unless given), named `name`.
    func flashSale(_ variant: FlashVariant, rate: Double? = nil, name: String? = nil) async throws -> FlashSale {
        let rate = rate ?? settings.bookingRate
        let users = Int((rate * settings.burstSeconds).rounded(.up))
        let seatsPerSchedule = 1000
        // Spread: a seat for everyone and a spare schedule. Hot: two schedules that 90% of users want.
        let scheduleCount = variant == .spread ? users / seatsPerSchedule + 2 : 2 + users / 10 / seatsPerSchedule + 1
        let schedules = try await createSchedules(count: scheduleCount, seats: seatsPerSchedule, title: "flash sale \(variant)")
        let fans = try await makeFans(users, funded: true)
        let seatIds = try await seats(of: schedules, as: fans[0])
        let hot = Array(seatIds.prefix(2 * seatsPerSchedule))
        let rest = Array(seatIds.dropFirst(2 * seatsPerSchedule))
        let client = client
        let soldOut = Counter()

        let phase = await withCPU(unit: "pay 201", await openLoop(name ?? "flash sale, \(variant.rawValue)", rate: rate, arrivals: users) { index, intended, recorder in
            let fan = fans[index]
            var generator = SystemRandomNumberGenerator()
            func pick() -> Int64 {
                switch variant {
                case .spread: return seatIds[index]
                case .hotSeats: return index % 10 == 0 ? rest[(index / 10) % rest.count] : hot.randomElement(using: &generator)!
                }
            }
            // A user who finds the seat taken tries others, as a person at a seat map would.
            var reservationId: String?
            var attemptStart = intended
            for _ in 0..<4 {
                let answer = await client.send(.POST, "/api/v1/reservations", headers: fan.gated, json: #"{"seatId": \#(pick())}"#)
                recorder.record("hold", since: attemptStart, outcome: answer.outcome)
                if answer.status == 201 { reservationId = (answer.json()?["id"] as? NSNumber)?.stringValue; break }
                guard answer.status == 409 else { return }
                attemptStart = .now
            }
            guard let reservationId else { _ = soldOut.next(); return }
            let payStart = ContinuousClock.now
            let paid = await client.send(.POST, "/api/v1/reservations/\(reservationId)/payment",
                                         headers: fan.auth + [("Idempotency-Key", "pay-\(reservationId)")])
            recorder.record("pay", since: payStart, outcome: paid.outcome)
        })
        let paid = phase.outcomes["pay 201"] ?? 0
        return FlashSale(phase: phase, bookingsPerSecond: Double(paid) / phase.seconds,
                         oversold: try oversoldSeats(), soldOut: soldOut.count)
    }

    /// Seats with more than one paid reservation, read from reservation's SQLite file. Safe while the
    /// stack runs; that every sold seat has exactly one payment is checked with the other invariants
    /// of CONTRACT §4 once the stack has stopped.
    func oversoldSeats() throws -> Int {
        guard let dir = stack.environment["DATA_DIR"] else { throw BenchError.setup("no DATA_DIR") }
        var configuration = Configuration()
        configuration.readonly = true
        let reservation = try DatabaseQueue(path: "\(dir)/reservation.sqlite", configuration: configuration)
        return try reservation.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM (SELECT concert_seat_id FROM reservation WHERE status = 'reserved'
                                      GROUP BY concert_seat_id HAVING COUNT(*) > 1)
                """) ?? 0
        }
    }

    // MARK: 4. The waiting room

    struct WaitingRoom {
        let issue: PhaseResult
        let status: PhaseResult
        var issuesPerSecond: Double { Double(issue.outcomes["issue 201"] ?? 0) / issue.seconds }
        var statusPerSecond: Double { Double(status.outcomes["status 200"] ?? 0) / status.seconds }
    }

    /// Token issues (each arrival a user without a token) and status polls, at fixed rates.
    func waitingRoom() async throws -> WaitingRoom {
        let users = Int(settings.tokenRate * settings.burstSeconds)
        let fans = try await makeFans(users, funded: false, admitted: false)
        let client = client
        let tokens = Mutex([String?](repeating: nil, count: users))
        let issue = await withCPU(unit: "issue 201", await openLoop("token issues", rate: settings.tokenRate, arrivals: users) { index, intended, recorder in
            let answer = await client.send(.POST, "/api/v1/queue/tokens", headers: fans[index].auth)
            recorder.record("issue", since: intended, outcome: answer.outcome)
            if let token = answer.json()?["token"] as? String { tokens.withLock { $0[index] = token } }
        })
        let issued = tokens.withLock { $0 }
        let status = await withCPU(unit: "status 200", await openLoop("status polls", rate: settings.tokenRate, arrivals: users) { index, intended, recorder in
            let answer = await client.send(.GET, "/api/v1/queue/tokens/current",
                                           headers: fans[index].auth + [("X-Queue-Token", issued[index] ?? "none")])
            recorder.record("status", since: intended, outcome: answer.outcome)
        })
        return WaitingRoom(issue: issue, status: status)
    }

    struct Admission {
        let configured: Double
        let observed: Double
        let window: Double
        let inOrder: Bool
    }

    /// A queue service alone with a small admission rate and a long line: tokens issued over RPC,
    /// then the rate read back from the `admitted_at` times in its SQLite file.
    static func admissionAccuracy(rate: Int, seconds: Double) async throws -> Admission {
        let line = Int(Double(rate) * seconds) * 2
        let stack = try TestStack(extra: [
            "QUEUE_ADMIT_PER_SECOND": "\(rate)", "QUEUE_MAX_ACTIVE": "10000000", "QUEUE_ACTIVE_SECONDS": "3600",
            "QUEUE_IDLE_SECONDS": "3600", "LOG_LEVEL": "warning",
        ])
        do {
            try stack.start(["queue"])
            guard let endpoint = stack.environment["QUEUE_RPC"], let dir = stack.environment["DATA_DIR"] else { throw BenchError.setup("queue stack") }
            let rpc = try RPCClient(endpoint: endpoint, logger: Logger(label: "loadgen"), defaultTimeout: .seconds(10))
            _ = try await rpc.call(ServiceName.queue.ping, Empty())
            await closedLoop(count: line, width: 32) { index in
                _ = try? await rpc.call(QueueAPI.issue, IssueToken(userId: Int64(index + 1)))
            }
            try await Task.sleep(for: .seconds(seconds))
            await rpc.close()
            await stack.stopAll()
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: "\(dir)/queue.sqlite", configuration: configuration)
            let admitted = try await queue.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, admitted_at FROM token WHERE admitted_at IS NOT NULL ORDER BY admitted_at, seq")
                    .map { (seq: $0["seq"] as Int64, at: $0["admitted_at"] as Date) }
            }
            stack.folder.remove()
            guard admitted.count > 2 * rate, let first = admitted.first?.at else { throw BenchError.setup("only \(admitted.count) admitted") }
            // Ticks admit in batches; measure from one batch (excluded) to the last (included), so
            // the window holds whole tick intervals. The first second (a full bucket) is left out.
            guard let start = admitted.first(where: { $0.at >= first.addingTimeInterval(1) })?.at,
                  let end = admitted.last?.at, end > start else { throw BenchError.setup("admissions stopped in the first second") }
            let inWindow = admitted.filter { $0.at > start && $0.at <= end }.count
            let window = end.timeIntervalSince(start)
            let seqs = admitted.map(\.seq)
            return Admission(configured: Double(rate), observed: Double(inWindow) / window, window: window,
                             inOrder: seqs == seqs.sorted())
        } catch {
            await stack.stopAll()
            throw error
        }
    }

    // MARK: Setting up

    /// Creates a concert with `count` schedules of `seats` seats, open for reservation now; answers their ids.
    func createSchedules(count: Int, seats: Int, title: String) async throws -> [Int64] {
        let now = Date()
        let formatter = ISO8601DateFormatter()
        let schedule = """
            {"startsAt": "\(formatter.string(from: now.addingTimeInterval(86_400 * 30)))",
             "reservationStartAt": "\(formatter.string(from: now.addingTimeInterval(-3600)))",
             "reservationEndAt": "\(formatter.string(from: now.addingTimeInterval(86_400 * 29)))",
             "seatCount": \(seats), "price": \(Bench.price)}
            """
        let body = #"{"title": "\#(title)", "description": "benchmark", "schedules": [\#(Array(repeating: schedule, count: count).joined(separator: ","))]}"#
        let answer = await client.send(.POST, "/api/v1/admin/concerts", headers: [("Authorization", "Bearer \(Bench.adminToken)")], json: body)
        guard answer.status == 201, let created = answer.json()?["schedules"] as? [[String: Any]] else {
            throw BenchError.setup("creating \(title) answered \(answer.status)")
        }
        return created.compactMap { ($0["id"] as? NSNumber)?.int64Value }
    }

    /// The seat ids of `schedules`, in order.
    func seats(of schedules: [Int64], as fan: Fan) async throws -> [Int64] {
        var ids: [Int64] = []
        for schedule in schedules {
            let answer = await client.send(.GET, "/api/v1/schedules/\(schedule)/seats", headers: fan.gated)
            guard let seats = answer.json()?["seats"] as? [[String: Any]] else { throw BenchError.setup("seats of \(schedule): \(answer.status)") }
            ids += seats.compactMap { ($0["id"] as? NSNumber)?.int64Value }
        }
        return ids
    }

    /// `count` users signed up, each (unless told otherwise) with an active token and a wallet that
    /// holds one seat's price. Set up as fast as the stack allows (closed loop), before measuring.
    func makeFans(_ count: Int, funded: Bool, admitted: Bool = true) async throws -> [Fan] {
        let made = Mutex([Fan?](repeating: nil, count: count))
        let client = client
        let started = ContinuousClock.now
        await closedLoop(count: count, width: settings.connections) { index in
            let signup = await client.send(.POST, "/api/v1/users", json: #"{"name": "fan \#(index)"}"#)
            guard let apiKey = signup.json()?["apiKey"] as? String else { return }
            var fan = Fan(apiKey: apiKey)
            if admitted {
                let issued = await client.send(.POST, "/api/v1/queue/tokens", headers: fan.auth)
                guard var body = issued.json(), let token = body["token"] as? String else { return }
                fan.token = token
                for _ in 0..<200 where body["status"] as? String != "active" {
                    try? await Task.sleep(for: .milliseconds(50))
                    body = await client.send(.GET, "/api/v1/queue/tokens/current", headers: fan.gated).json() ?? [:]
                }
                guard body["status"] as? String == "active" else { return }
            }
            if funded {
                let charged = await client.send(.POST, "/api/v1/wallet/charges", headers: fan.auth + [("Idempotency-Key", "fund-\(index)")],
                                                json: #"{"amount": \#(Bench.price)}"#)
                guard charged.status == 200 else { return }
            }
            made.withLock { $0[index] = fan }
        }
        let fans = made.withLock { $0.compactMap { $0 } }
        log(String(format: "  set up %d users in %.1f s", fans.count, (ContinuousClock.now - started) / .seconds(1)))
        guard fans.count == count else { throw BenchError.setup("only \(fans.count) of \(count) users could be set up") }
        return fans
    }
}
