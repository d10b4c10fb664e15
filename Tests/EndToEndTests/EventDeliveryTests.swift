import Foundation
import Testing
import TestSupport

extension UnderLoadTests {
    /// Issue 6, events that cannot be lost: `reservation events` (the outbox follower) writes every
    /// event the reservation service commits, once and in order, through SIGKILLs of itself while
    /// fans book, and through the service dying by SIGKILL between a commit and its publish (a fail
    /// point puts it exactly there). Its file is compared with the outbox in `reservation.sqlite`.
    @Suite("Events that cannot be lost: the outbox followed through kills", .serialized, .timeLimit(.minutes(3)))
    struct EventDeliveryTests {
        /// Booking under load, with holds that cannot lapse during the test: at rest, nothing more is published.
        static let environment = BookingLoad.environment.merging(["HOLD_SECONDS": "120"]) { $1 }

        @Test("a follower killed with SIGKILL again and again while fans book, started again each time, ends with exactly the outbox's events 1…N, in order")
        func followerKilledWhileEventsFlow() async throws {
            try await withStack(extra: Self.environment) { stack in
                let data = try #require(stack.environment["DATA_DIR"])
                let out = stack.folder.file("events.jsonl")
                let began = ContinuousClock.now
                var follower = try Self.follow(stack, out, run: 1)
                let (load, running) = try await BookingLoad.start(on: stack, fans: 8, untilPaid: 3)
                defer { running.cancel() }

                var kills: [String] = []
                for run in 2...7 {
                    // Kill only while events are coming: the file must have grown since the last start.
                    let before = Self.lines(out).count
                    let grew = await eventually(timeout: .seconds(10)) { Self.lines(out).count > before }
                    #expect(grew, "no event written by follower run \(run - 1): \(follower.log)")
                    // Sometimes while it is still catching up, sometimes well into live events.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...600)))
                    follower.kill()
                    #expect(follower.exitStatus == 128 + SIGKILL)
                    kills.append("after \(Self.lines(out).count) lines")
                    follower = try Self.follow(stack, out, run: run)
                }
                let outbox = try await Self.bringToRest(stack, load, running, paying: 3)

                // At rest: the last follower is stopped gracefully (it says how its events came), and
                // one more run without --follow catches up whatever is left and exits.
                let complete = await Self.stopWhenWritten(follower, out, outbox)
                #expect(complete, "\(Self.lines(out).count) of \(outbox.lastSequence) events written: \(follower.log)")
                let last = try await stack.run("reservation", ["events", "--out", out], timeout: .seconds(30))
                #expect(last.status == 0 && last.output.contains("events: 0 written"), "the follower had left something behind: \(last.output)")

                let final = try OutboxRecords(file: "\(data)/reservation.sqlite")
                #expect(final.lastSequence == outbox.lastSequence, "the outbox grew at rest")
                try Self.expectSame(file: out, as: final)
                print("""
                    event delivery, follower killed: \(final.lastSequence) events, \(load.paid) paid; \(kills.count) SIGKILLs (\(kills.joined(separator: ", "))); \
                    \(seconds(ContinuousClock.now - began)) s
                      last follower: \(Self.summary(follower.log))
                      at rest:       \(Self.summary(last.output))
                    """)
                // A file of another database's numbering is refused with the reason, not appended to.
                let foreign = stack.folder.file("other-epoch.jsonl")
                try Data((#"{"epoch":"a-database-since-replaced","seq":7,"type":"reservation.reserved","body":{}}"# + "\n").utf8)
                    .write(to: URL(fileURLWithPath: foreign))
                let refused = try await stack.run("reservation", ["events", "--out", foreign])
                #expect(refused.status == 1 && refused.output.contains("numbering began again"), "\(refused.output)")
                #expect(Self.lines(foreign).count == 1)

                await stack.stopAll()
                // No service to answer: given up on after --timeout, with its own exit status.
                let away = try await stack.run("reservation", ["events", "--out", out, "--timeout", "1"])
                #expect(away.status == 2 && away.elapsed < .seconds(5), "\(away.output)")
                // Stopped by SIGTERM while it rides out the outage: stopped between two events, exit 0.
                let waiting = try ManagedProcess("reservation", arguments: ["events", "--out", out, "--timeout", "60"],
                                                 environment: stack.environment, logPath: stack.folder.file("follower-away.log"))
                try await Task.sleep(for: .seconds(1))
                waiting.signal(SIGTERM)
                #expect(await waiting.waitForExit(timeout: .seconds(5)), "still running 5 s after SIGTERM")
                #expect(waiting.exitStatus == 0, "exit \(String(describing: waiting.exitStatus)): \(waiting.log)")
                let violations = try StorageInvariants(dataDirectory: data).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }

        @Test("a malformed FAILPOINTS stops a service at start with the variable named")
        func malformedFailPoints() async throws {
            let result = try await runToCompletion("reservation", ["serve"], environment: ["FAILPOINTS": "outbox.before-publish=soon"])
            #expect(result.status == 2 && result.output.contains("FAILPOINTS"), "\(result.output)")
        }

        @Test("reservation killed by SIGKILL between a commit and its publish, restarted: the follower running throughout writes every event once; every saga finished, CONTRACT §4 holds, every payer's token expired")
        func publisherKilledBetweenCommitAndPublish() async throws {
            try await withStack(extra: Self.environment, start: ["queue", "concert", "payment", "gateway"]) { stack in
                let data = try #require(stack.environment["DATA_DIR"])
                let out = stack.folder.file("events.jsonl")
                let began = ContinuousClock.now
                // The 8th time its relay is about to publish committed events, the process kills itself.
                try stack.start("reservation", under: ["/usr/bin/env"], extra: ["FAILPOINTS": "outbox.before-publish=8"])
                let doomed = try #require(stack.process("reservation"))
                let follower = try Self.follow(stack, out, run: 1)

                // Watches for the death, reads the file as the dead process left it, and starts the
                // service again (without the fail point), while the fans go on booking.
                let restart = Task { () throws -> (status: Int32?, outbox: OutboxRecords, down: Duration)? in
                    guard await doomed.waitForExit(timeout: .seconds(60)) else { return nil }
                    let died = ContinuousClock.now
                    let outbox = try OutboxRecords(file: "\(data)/reservation.sqlite")
                    try stack.restart("reservation", appendingLog: true)
                    return (doomed.exitStatus, outbox, ContinuousClock.now - died)
                }
                let (load, running) = try await BookingLoad.start(on: stack, fans: 8, untilPaid: 3)
                defer { running.cancel() }
                let crash = try #require(try await restart.value, "the fail point never fired:\n\(stack.logs)")
                #expect(crash.status == 128 + SIGKILL, "reservation ended with status \(String(describing: crash.status))")
                #expect(crash.outbox.lastSequence > crash.outbox.publishedThrough,
                        "committed \(crash.outbox.lastSequence), recorded as published \(crash.outbox.publishedThrough)")

                let outbox = try await Self.bringToRest(stack, load, running, paying: 10)

                // The follower never stopped: it must get there by itself (live, or by catching up).
                let complete = await Self.stopWhenWritten(follower, out, outbox)
                #expect(complete, "\(Self.lines(out).count) of \(outbox.lastSequence) events written: \(follower.log)")
                try Self.expectSame(file: out, as: try OutboxRecords(file: "\(data)/reservation.sqlite"))

                let liveTokens = try StorageInvariants.payersWithLiveTokens(dataDirectory: data)
                #expect(liveTokens.isEmpty, "\(liveTokens.prefix(5))")
                print("""
                    event delivery, publisher killed: died with status \(crash.status ?? -1) at event \(crash.outbox.lastSequence) \
                    (recorded as published through \(crash.outbox.publishedThrough)), started again \(seconds(crash.down)) s after it died; \
                    \(outbox.lastSequence) events, \(load.paid) paid; \(seconds(ContinuousClock.now - began)) s
                      follower: \(Self.summary(follower.log))
                    """)
                await stack.stopAll()
                let violations = try StorageInvariants(dataDirectory: data).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }

        /// Lets the fans pay `more` bookings, stops them, waits until every saga has finished (nothing
        /// more will be published), and reads the outbox then.
        static func bringToRest(_ stack: TestStack, _ load: BookingLoad, _ running: Task<Void, Never>, paying more: Int) async throws -> OutboxRecords {
            let data = try #require(stack.environment["DATA_DIR"])
            let paid = load.paid
            #expect(await eventually(timeout: .seconds(20)) { load.paid >= paid + more }, "\(tally(load.exchanges))\n\(stack.logs)")
            load.stop()
            await running.value
            #expect(await eventually(timeout: .seconds(20)) {
                guard let files = try? StorageInvariants(dataDirectory: data) else { return false }
                return ((try? files.sagasFinished()) ?? ["unreadable"]).isEmpty && ((try? files.tokenExpiriesPending()) ?? ["unreadable"]).isEmpty
            }, "\(stack.logs)")
            return try OutboxRecords(file: "\(data)/reservation.sqlite")
        }

        /// Waits (15 s at most) until the follower has written as many events as `outbox` holds, then
        /// stops it with SIGTERM, which it must answer with exit 0; answers whether it had them all.
        static func stopWhenWritten(_ follower: ManagedProcess, _ out: String, _ outbox: OutboxRecords) async -> Bool {
            let complete = await eventually(timeout: .seconds(15)) { lines(out).count >= Int(outbox.lastSequence) }
            await follower.stop()
            #expect(follower.exitStatus == 0, "\(follower.log)")
            return complete
        }

        /// Starts `reservation events --follow` appending to `out`; its log is `follower-<run>.log`.
        static func follow(_ stack: TestStack, _ out: String, run: Int) throws -> ManagedProcess {
            try ManagedProcess("reservation", arguments: ["events", "--out", out, "--follow"], environment: stack.environment,
                               logPath: stack.folder.file("follower-\(run).log"))
        }

        /// The file's complete lines.
        static func lines(_ path: String) -> [Substring] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
            return text.split(separator: "\n", omittingEmptySubsequences: true)
        }

        /// The summary line a follower writes when it stops.
        static func summary(_ output: String) -> String {
            output.split(separator: "\n").last { $0.hasPrefix("events: ") && $0.contains(" written to ") }.map(String.init) ?? "(none)"
        }

        /// The file holds exactly the outbox's events 1…N, in order, once each, with their types and bodies.
        static func expectSame(file path: String, as outbox: OutboxRecords) throws {
            let written = try lines(path).map { line in
                try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
            }
            let numbers = written.compactMap { ($0["seq"] as? Int).map(UInt64.init) }
            try #require(outbox.lastSequence > 0, "nothing was published")
            #expect(outbox.events.map(\.seq) == Array(1...outbox.lastSequence), "the outbox itself numbers 1…N")
            #expect(numbers == outbox.events.map(\.seq), "written \(numbers.count) events, the outbox has \(outbox.events.count); first difference at \(zip(numbers, outbox.events.map(\.seq)).first { $0 != $1 }.map { "\($0)" } ?? "the end")")
            #expect(Set(written.compactMap { $0["epoch"] as? String }) == [outbox.epoch])
            for (line, event) in zip(written, outbox.events) {
                let body = try JSONSerialization.jsonObject(with: Data(event.body.utf8))
                guard line["type"] as? String == event.type, let writtenBody = line["body"], canonical(writtenBody) == canonical(body) else {
                    Issue.record("event \(event.seq): written \(line), stored \(event.type) \(event.body)")
                    return
                }
            }
        }

        static func canonical(_ json: Any) -> String {
            (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .fragmentsAllowed])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
    }
}
