import Contracts
import Foundation
import GRDB
import ServiceKit
import Synchronization
@testable import QueueService

/// Events a waiting room published, in order.
final class EventLog: Sendable {
    private let events = Mutex<[QueueEvent]>([])

    func record(_ event: QueueEvent) { events.withLock { $0.append(event) } }

    var all: [QueueEvent] { events.withLock { $0 } }

    var admitted: [AdmittedEvent] {
        all.compactMap { event -> AdmittedEvent? in
            guard case .admitted(let body) = event else { return nil }
            return body
        }
    }

    /// Every token named by an expired event, in order.
    var expired: [ExpiredTokenRef] {
        all.flatMap { event -> [ExpiredTokenRef] in
            guard case .expired(let body) = event else { return [] }
            return body.tokens
        }
    }
}

/// A waiting room over a database (in memory unless given one), a manual clock and an event log.
struct QueueFixture {
    let clock: ManualClock
    /// The clock's time when the fixture was made; `at(_:)` moves to a time after it.
    let start: Date
    let database: QueueDatabase
    let room: WaitingRoom
    let events = EventLog()

    static let rules = QueueRules(admitPerSecond: 10, maxActive: 5, activeSeconds: 60, idleSeconds: 30)

    init(rules: QueueRules = QueueFixture.rules, writer: (any DatabaseWriter)? = nil,
         clock: ManualClock = ManualClock()) async throws {
        self.clock = clock
        start = clock.now()
        database = QueueDatabase(try writer ?? DatabaseOpener.openInMemory(migrator: QueueDatabase.migrator))
        let events = self.events
        room = WaitingRoom(database: database, signingKey: try await database.signingKey(), rules: rules,
                           clock: clock, publish: { events.record($0) })
    }

    /// Issues tokens to users `users`, in that order; returns their wire tokens.
    func issue(_ users: ClosedRange<Int64>) async throws -> [Int64: String] {
        var tokens: [Int64: String] = [:]
        for user in users { tokens[user] = try await room.issue(IssueToken(userId: user)).view.token }
        return tokens
    }

    /// Sets the clock to `seconds` after `start` (exact, where repeated `advance` would add up rounding).
    func at(_ seconds: Double) {
        clock.set(start.addingTimeInterval(seconds))
    }

    /// Ticks at the clock's current time.
    @discardableResult
    func tick() async throws -> TickOutcome { try await room.tick(now: clock.now()) }

    func status(_ user: Int64, _ token: String) async throws -> TokenView {
        try await room.status(TokenQuery(userId: user, token: token))
    }

    func validate(_ user: Int64, _ token: String) async throws -> TokenValidity {
        try await room.validate(TokenQuery(userId: user, token: token))
    }

    func count(_ status: TokenStatus) async throws -> Int {
        try await database.writer.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM token WHERE status = ?", arguments: [status.rawValue]) ?? 0
        }
    }
}
