import Foundation
import Synchronization
import Testing
import TestSupport

/// Fans booking at once through the gateway while a test breaks something (a graceful stop, a
/// backup): each signs up, tops up, waits its turn, holds a random seat, then pays (a client asks
/// again with the same key after a 503) or sometimes cancels, and goes on until told to stop.
/// Every exchange is recorded with when it began and ended.
final class BookingLoad: Sendable {
    let stack: TestStack
    private let log = Mutex<[Exchange]>([])
    private let stopped = Atomic<Bool>(false)
    private let paidCount = Atomic<Int>(0)

    init(stack: TestStack) {
        self.stack = stack
    }

    /// A stack for booking under load: admission at once, room for everyone, holds long enough to pay.
    static let environment = ["QUEUE_ADMIT_PER_SECOND": "1000", "QUEUE_MAX_ACTIVE": "100000", "HOLD_SECONDS": "30"]

    /// Waits for the stack, starts `fans` fans over every open seat, and returns once `paid`
    /// bookings are paid (or 20 s passed, which the caller's later checks then reveal).
    /// Stop it with `stop()`, then await the task.
    static func start(on stack: TestStack, fans: Int, untilPaid paid: Int) async throws -> (BookingLoad, Task<Void, Never>) {
        try #require(await stack.waitUntilReady(), "\(stack.logs)")
        let seats = try await seatIds(stack)
        let load = BookingLoad(stack: stack)
        let running = Task { await load.run(fans: fans, seats: seats) }
        #expect(await eventually(timeout: .seconds(20)) { load.paid >= paid }, "\(tally(load.exchanges))")
        return (load, running)
    }

    var exchanges: [Exchange] { log.withLock { $0 } }
    var paid: Int { paidCount.load(ordering: .relaxed) }

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Every seat of every open schedule, as a signed-up, admitted fan sees them.
    static func seatIds(_ stack: TestStack) async throws -> [Int] {
        var scout = try await Fan.signUp(stack, name: "scout")
        try await scout.enter()
        var seats: [Int] = []
        let concerts = try await stack.send("GET", "/api/v1/concerts").json as? [[String: Any]] ?? []
        for concert in concerts.compactMap({ $0["id"] as? Int }) {
            let schedules = try await scout.send("GET", "/api/v1/concerts/\(concert)/schedules").json as? [[String: Any]] ?? []
            for schedule in schedules.compactMap({ $0["id"] as? Int }) {
                let map = try await scout.send("GET", "/api/v1/schedules/\(schedule)/seats")
                seats += (map["seats"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            }
        }
        return seats
    }

    /// Runs `fans` fans over `seats` until `stop()`; returns when every fan has finished its step.
    func run(fans: Int, seats: [Int]) async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<fans {
                group.addTask { await self.fan(index, seats: seats) }
            }
        }
    }

    private func fan(_ index: Int, seats: [Int]) async {
        guard var fan = try? await Fan.signUp(stack, name: "fan\(index)") else { return }
        _ = await ask("charge", fan, "POST", "/api/v1/wallet/charges", body: #"{"amount": 10000000}"#, key: "top-up-\(index)")
        while !stopped.load(ordering: .relaxed) {
            if fan.token == nil, !(await admit(&fan)) {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            let seat = seats.randomElement() ?? 1
            let held = await ask("reserve", fan, "POST", "/api/v1/reservations", body: #"{"seatId": \#(seat)}"#)
            if held.code?.hasPrefix("queue_token") == true { fan.token = nil }
            guard held.status == 201, let id = held.answer?["id"] as? Int else { continue }
            if Int.random(in: 0..<5) == 0 {
                _ = await ask("cancel", fan, "DELETE", "/api/v1/reservations/\(id)")
                continue
            }
            let key = UUID().uuidString
            var payment = await ask("pay", fan, "POST", "/api/v1/reservations/\(id)/payment", key: key)
            // Like a real client: no answer, or 503, means ask again with the same key.
            for _ in 0..<5 where payment.status == nil || payment.status == 503 || payment.code == "request_in_progress" {
                try? await Task.sleep(for: .milliseconds(300))
                payment = await ask("pay again", fan, "POST", "/api/v1/reservations/\(id)/payment", key: key)
            }
            if payment.status == 201 {
                paidCount.add(1, ordering: .relaxed)
                fan.token = nil
            }
        }
    }

    /// Takes a place in line and waits (bounded) to be let in.
    private func admit(_ fan: inout Fan) async -> Bool {
        let issued = await ask("token", fan, "POST", "/api/v1/queue/tokens")
        guard let token = issued.answer?["token"] as? String else { return false }
        fan.token = token
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, !stopped.load(ordering: .relaxed) {
            let status = await ask("token status", fan, "GET", "/api/v1/queue/tokens/current")
            if status.answer?["status"] as? String == "active" { return true }
            if status.answer?["status"] as? String == "expired" { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        fan.token = nil
        return false
    }

    private struct Asked {
        let status: Int?
        let code: String?
        let answer: HTTPAnswer?
    }

    private func ask(_ what: String, _ fan: Fan, _ method: String, _ path: String, body: String? = nil, key: String? = nil) async -> Asked {
        let started = ContinuousClock.now
        do {
            let answer = try await fan.send(method, path, body: body, key: key)
            log.withLock { $0.append(Exchange(what: what, started: started, ended: .now, status: answer.status, code: answer.code, error: nil)) }
            return Asked(status: answer.status, code: answer.code, answer: answer)
        } catch {
            log.withLock { $0.append(Exchange(what: what, started: started, ended: .now, status: nil, code: nil, error: "\(error)")) }
            return Asked(status: nil, code: nil, answer: nil)
        }
    }
}
