import Foundation
import TestSupport

/// One chaos run: the stack, its own concert, the users, the monkey; then the settling and the verdict.
struct ChaosRun {
    static let adminToken = "chaos-admin"
    let settings: ChaosSettings

    func run(keepFolder: Bool) async throws -> ChaosOutcome {
        say("chaos: seed \(settings.seed), \(settings.users) users, \(settings.loadSeconds) s of load, per backend \(settings.killsPerBackend) SIGKILL and \(settings.freezesPerBackend) SIGSTOP, \(settings.gatewayKills) gateway SIGKILL; \(ProcessInfo.processInfo.activeProcessorCount) cores")
        let stack = try TestStack(extra: settings.environment)
        try stack.start()
        do {
            let outcome = try await drive(stack)
            await stack.stopAll()
            if outcome.passed && !keepFolder {
                stack.folder.remove()
            } else {
                say("chaos: the stack's files and logs are in \(stack.folder.path)")
            }
            return outcome
        } catch {
            await stack.stopAll()
            say("chaos: failed to run (\(error)); the stack's files and logs are in \(stack.folder.path)")
            throw error
        }
    }

    private func drive(_ stack: TestStack) async throws -> ChaosOutcome {
        guard await stack.waitUntilReady(timeout: .seconds(60)) else {
            throw ChaosError("the stack never became ready:\n\(stack.logs.suffix(3000))")
        }
        let client = ChaosClient(baseURL: stack.baseURL, connections: settings.users * 2 + 8)
        do {
            let outcome = try await book(stack, client)
            await client.shutdown()
            return outcome
        } catch {
            await client.shutdown()
            throw error
        }
    }

    private func book(_ stack: TestStack, _ client: ChaosClient) async throws -> ChaosOutcome {
        let (schedules, seats) = try await createVenue(client)
        say("chaos: \(seats.count) seats on \(schedules.count) schedules; the load begins")

        let acks = Acknowledgements()
        let load = LoadSwitch()
        let started = ContinuousClock.now
        let monkey = Monkey(stack: stack, started: started) { client.reconnect() }
        let loadDuration = Duration.milliseconds(Int(settings.loadSeconds * 1000))
        let settings = settings
        let users = Task {
            await withTaskGroup(of: VirtualUser.self) { group in
                for index in 0..<settings.users {
                    group.addTask {
                        var user = VirtualUser(index: index, client: client, acks: acks, seats: seats, schedules: schedules,
                                               settings: settings, load: load)
                        await user.run()
                        return user
                    }
                }
                var finished: [VirtualUser] = []
                for await user in group { finished.append(user) }
                return finished
            }
        }
        await monkey.run(Monkey.plan(settings), over: loadDuration, seed: settings.seed)
        try? await Task.sleep(until: started + loadDuration, clock: .continuous)
        load.switchOff()
        var finished = await users.value
        let loadEnded = ContinuousClock.now
        say("chaos: load stopped after \(String(format: "%.1f", seconds(loadEnded - started))) s; settling")

        // Settle: every process back, every unknown outcome asked again under its key, sweepers run.
        try await monkey.restoreAll()
        guard await stack.waitUntilReady(timeout: .seconds(60)) else {
            throw ChaosError("the stack did not come back after the load:\n\(stack.logs.suffix(3000))")
        }
        let settleDeadline = ContinuousClock.now + .seconds(60)
        await withTaskGroup(of: Void.self) { group in
            for index in finished.indices {
                let user = finished[index]
                group.addTask {
                    var user = user
                    await user.settle(until: settleDeadline)
                }
            }
        }
        finished.removeAll()
        let verdict = try await Verdict.reach(stack: stack, acks: acks, exchanges: client.exchanges, monkey: monkey,
                                              settings: settings, loadStarted: started, loadEnded: loadEnded)
        let outcome = ChaosOutcome(settings: settings, loadSeconds: seconds(loadEnded - started), seats: seats.count,
                                   faults: monkey.record, exchanges: client.exchanges, acks: acks.snapshot, verdict: verdict)
        outcome.report()
        return outcome
    }

    /// The run's own concert: four schedules open now, with enough seats that the sale does not
    /// simply sell out, at a price that a top-up pays several times.
    private func createVenue(_ client: ChaosClient) async throws -> (schedules: [Int], seats: [Int]) {
        let seatCount = min(1000, max(100, settings.users * Int(settings.loadSeconds) / 3))
        let now = Date()
        func time(_ offset: TimeInterval) -> String { now.addingTimeInterval(offset).formatted(.iso8601) }
        let schedule = #"{"startsAt": "\#(time(30 * 86400))", "reservationStartAt": "\#(time(-3600))", "reservationEndAt": "\#(time(7 * 86400))", "seatCount": \#(seatCount), "price": 40000}"#
        let body = #"{"title": "Chaos night", "description": "a stage for the chaos run", "schedules": [\#(Array(repeating: schedule, count: 4).joined(separator: ","))]}"#
        let created = await client.send("admin", .POST, "/api/v1/admin/concerts", admin: Self.adminToken, json: body)
        guard created.status == 201, let schedules = (created["schedules"] as? [[String: Any]])?.compactMap({ $0["id"] as? Int }) else {
            throw ChaosError("could not create the run's concert: \(String(describing: created.status)) \(String(describing: created.body))")
        }
        // The seat ids, as an admitted scout reads them.
        let scout = await client.send("sign up", .POST, "/api/v1/users", json: #"{"name": "scout"}"#)
        guard let key = scout["apiKey"] as? String else { throw ChaosError("the scout could not sign up") }
        let issued = await client.send("token", .POST, "/api/v1/queue/tokens", apiKey: key)
        guard let token = issued["token"] as? String else { throw ChaosError("the scout got no token") }
        var seats: [Int] = []
        for schedule in schedules {
            var map: ChaosClient.Reply?
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                map = await client.send("seat map", .GET, "/api/v1/schedules/\(schedule)/seats", apiKey: key, token: token)
                if map?.status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            seats += ((map?["seats"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? Int }
        }
        guard seats.count == seatCount * schedules.count else { throw ChaosError("the scout saw \(seats.count) seats") }
        return (schedules, seats)
    }
}

struct ChaosError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
