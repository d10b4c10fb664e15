import Contracts
import Foundation
import GRDB
import ServiceKit
import Testing
import TestSupport
@testable import QueueService

/// Admission: order, rate and cap, driven tick by tick on a manual clock.
@Suite("Admission")
struct AdmissionTests {
    @Test("1,000 tokens at 100 a second and a cap of 250: in arrival order, never over the cap, never over the rate")
    func thousandTokens() async throws {
        let rules = QueueRules(admitPerSecond: 100, maxActive: 250, activeSeconds: 4, idleSeconds: 3600)
        let fixture = try await QueueFixture(rules: rules)
        _ = try await fixture.issue(1...1000)
        var admittedPerTick: [Int] = []
        var order: [Int64] = []
        var reachedCap = false
        // A tick every 100 ms of manual time, until everyone is in (with a bound, should that never happen).
        while order.count < 1000 && admittedPerTick.count < 2000 {
            fixture.at(Double(admittedPerTick.count) / 10)
            let outcome = try await fixture.tick()
            admittedPerTick.append(outcome.admitted.count)
            order += outcome.admitted.map(\.seq)
            let active = try await fixture.count(.active)
            #expect(active <= 250, "at tick \(admittedPerTick.count - 1)")
            reachedCap = reachedCap || active == 250
        }
        #expect(order == Array(1...1000), "admitted strictly in arrival order, each once")
        #expect(reachedCap, "the active time is short enough that the cap holds admission back")
        // Ten consecutive ticks span one second (half-open): none may hold more than the rate.
        for first in admittedPerTick.indices {
            let window = admittedPerTick[first..<min(first + 10, admittedPerTick.count)].reduce(0, +)
            #expect(window <= 100, "ticks \(first)..<\(first + 10) admitted \(window)")
        }
        // And no slower than the rate while the cap allows: the first 250 are in within 2.5 s.
        let cumulative = admittedPerTick.reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1) }
        let capReachedAt = try #require(cumulative.firstIndex { $0 >= 250 })
        #expect(capReachedAt <= 25, "250 admitted by tick \(capReachedAt)")
        // Once the cap binds, each expiry's slot is filled at once: 250 more every 4 s, so the last
        // are in by about 14.5 s.
        #expect(admittedPerTick.count <= 150, "took \(admittedPerTick.count) ticks")
        let log = fixture.events.admitted
        #expect(log.flatMap { $0.tokens.map(\.seq) } == order)
        #expect(log.last?.throughSeq == 1000)
    }

    /// Tick schedules, as the gaps between ticks in milliseconds, repeated until everyone is in.
    static let schedules: [[Int]] = [
        // Mostly about 100 ms apart, sometimes bunched, sometimes very late.
        [100, 1, 7, 100, 50, 90, 2500, 100, 110, 400, 999, 1000, 1001],
        // A full bucket, then ticks as fast as they come: the rate alone must hold them back.
        [1500] + Array(repeating: 10, count: 150),
        // Ticks a whole second apart, and just under and over it.
        [1000, 999, 1001, 1000, 1],
    ]

    @Test("late and irregular ticks never admit more than the rate in any one-second window", arguments: schedules)
    func irregularTicksKeepTheRate(gaps: [Int]) async throws {
        let rules = QueueRules(admitPerSecond: 20, maxActive: 1_000, activeSeconds: 600, idleSeconds: 3600)
        let fixture = try await QueueFixture(rules: rules)
        _ = try await fixture.issue(1...300)
        var admissions: [(ms: Int, count: Int)] = []
        var order: [Int64] = []
        var ms = 0
        for tick in 0..<10_000 where order.count < 300 {
            fixture.at(Double(ms) / 1000)
            let outcome = try await fixture.tick()
            if !outcome.admitted.isEmpty { admissions.append((ms, outcome.admitted.count)) }
            order += outcome.admitted.map(\.seq)
            ms += gaps[tick % gaps.count]
        }
        #expect(order == Array(1...300))
        for (start, _) in admissions {
            let window = admissions.filter { $0.ms >= start && $0.ms < start + 1000 }.reduce(0) { $0 + $1.count }
            #expect(window <= 20, "\(window) admitted in [\(start), \(start + 1000)) ms")
        }
    }

    @Test("a tick with nobody waiting keeps no more credit than the burst allows")
    func idleTimeBuildsNoBurst() async throws {
        let rules = QueueRules(admitPerSecond: 50, maxActive: 1_000, activeSeconds: 600, idleSeconds: 3600)
        let fixture = try await QueueFixture(rules: rules)
        try await fixture.tick()
        fixture.at(60)
        try await fixture.tick()
        _ = try await fixture.issue(1...200)
        fixture.at(60.1)
        #expect(try await fixture.tick().admitted.count == 10)  // a fifth of a second's worth, not a minute's
        fixture.at(60.2)
        #expect(try await fixture.tick().admitted.count == 5)
    }

    @Test("a rate below one per tick still admits, one at a time")
    func slowRate() async throws {
        let rules = QueueRules(admitPerSecond: 1, maxActive: 10, activeSeconds: 600, idleSeconds: 3600)
        let fixture = try await QueueFixture(rules: rules)
        _ = try await fixture.issue(1...5)
        var admittedAt: [Int] = []
        for step in 0..<50 {
            fixture.at(Double(step) / 10)
            if try await !fixture.tick().admitted.isEmpty { admittedAt.append(step) }
        }
        #expect(admittedAt == [0, 10, 20, 30, 40])
    }
}

/// The races, on a real file with concurrent callers.
@Suite("Waiting room under concurrency")
struct QueueRaceTests {
    func pooled(_ rules: QueueRules = QueueFixture.rules) async throws -> (QueueFixture, TemporaryDirectory) {
        let folder = try TemporaryDirectory("queue")
        let pool = try DatabaseOpener.openPool(path: folder.file("queue.sqlite"), migrator: QueueDatabase.migrator)
        return (try await QueueFixture(rules: rules, writer: pool), folder)
    }

    @Test("50 concurrent issues for one user: one token, created once")
    func concurrentIssueForOneUser() async throws {
        let (fixture, folder) = try await pooled()
        defer { folder.remove() }
        let replies = try await withThrowingTaskGroup(of: IssuedToken.self) { group in
            for _ in 0..<50 { group.addTask { try await fixture.room.issue(IssueToken(userId: 9)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.filter(\.created).count == 1)
        #expect(Set(replies.map(\.view.token)).count == 1)
        #expect(try await fixture.count(.waiting) == 1)
    }

    @Test("200 users issuing while ticks run: every one gets a distinct place, admission keeps order and cap")
    func concurrentIssueAndTicks() async throws {
        let rules = QueueRules(admitPerSecond: 1_000, maxActive: 50, activeSeconds: 600, idleSeconds: 3600)
        let (fixture, folder) = try await pooled(rules)
        defer { folder.remove() }
        let tokens = try await withThrowingTaskGroup(of: String?.self) { group in
            for user in Int64(1)...200 {
                group.addTask { try await fixture.room.issue(IssueToken(userId: user)).view.token }
            }
            group.addTask {
                for step in 0..<20 {
                    try await fixture.room.tick(now: fixture.start.addingTimeInterval(Double(step) / 10))
                }
                return nil
            }
            return try await group.reduce(into: [String]()) { if let token = $1 { $0.append(token) } }
        }
        try await fixture.tick()
        let seqs = tokens.compactMap { QueueToken(parsing: $0)?.seq }
        #expect(seqs.sorted() == Array(1...200))
        let admitted = fixture.events.admitted.flatMap { $0.tokens.map(\.seq) }
        #expect(admitted == admitted.sorted())
        #expect(try await fixture.count(.active) == 50)
    }

    @Test("20 concurrent expiries of one user's token: exactly one expires it")
    func concurrentExpire() async throws {
        let (fixture, folder) = try await pooled()
        defer { folder.remove() }
        let token = try await fixture.issue(1...1)[1]!
        try await fixture.tick()
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await fixture.room.expire(ExpireToken(userId: 1, token: index % 2 == 0 ? token : nil)).expired
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 1, seq: 1, reason: .revoked)])
    }
}
