import Contracts
import Foundation
import GRDB
import Logging
import Metrics
import Messaging
import ServiceLifecycle
import Synchronization

/// Events kept in the service's own database, written in the same transaction as the change they
/// announce and numbered there (DESIGN §3): an event can neither go out for a change that rolled
/// back nor be lost with a crash between commit and publish. `OutboxRelay` publishes them in order;
/// a subscriber that missed some asks for them by number (`page`).
///
/// The numbering's epoch is chosen once, when the table is made, so numbers stay meaningful
/// across restarts; a new epoch means a new database, whose numbering began again.
package enum Outbox {
    package static let tableName = "outbox"
    /// How long events stay available to subscribers catching up.
    package static let retention: TimeInterval = 24 * 60 * 60
    /// The most events one `page` answers.
    package static let maxPage = 1000

    /// Creates the tables; call it from a migration of a service that publishes through an outbox.
    package static func createTables(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE outbox (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                type TEXT NOT NULL,
                body TEXT NOT NULL,
                created_at DATETIME NOT NULL
            );
            CREATE TABLE outbox_state (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                epoch TEXT NOT NULL,
                published_through INTEGER NOT NULL
            );
            """)
        try db.execute(sql: "INSERT INTO outbox_state (id, epoch, published_through) VALUES (1, ?, 0)",
                       arguments: [UUID().uuidString.lowercased()])
    }

    /// Adds an event, inside the caller's write transaction.
    package static func append<Body: Encodable>(_ type: String, _ body: Body, in db: Database, at now: Date) throws {
        let json = String(decoding: try WireCodec.encoder.encode(body), as: UTF8.self)
        try db.cachedStatement(sql: "INSERT INTO outbox (type, body, created_at) VALUES (?, ?, ?)")
            .execute(arguments: [type, json, StoredDate.text(now)])
    }

    /// The epoch and the last number already published: where a publisher's numbering resumes.
    package static func numbering(_ reader: any DatabaseReader) throws -> (epoch: String, publishedThrough: UInt64) {
        try reader.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT epoch, published_through FROM outbox_state WHERE id = 1") else {
                throw DatabaseError(message: "the outbox has no state row; was Outbox.createTables run in a migration?")
            }
            let through: Int64 = row["published_through"]
            return (row["epoch"], UInt64(max(0, through)))
        }
    }

    /// The events numbered after `after`, oldest first, at most `limit`.
    package static func page(_ reader: any DatabaseReader, after: UInt64, limit: Int) throws -> EventPage {
        try reader.read { db in try page(db, after: after, limit: limit) }
    }

    /// The same page, read without holding a thread of Swift's cooperative pool while it waits for a
    /// reader connection: what handlers and the relay use (a blocked pool stops every request).
    package static func page(_ reader: any DatabaseReader, after: UInt64, limit: Int) async throws -> EventPage {
        try await reader.read { db in try page(db, after: after, limit: limit) }
    }

    private static func page(_ db: Database, after: UInt64, limit: Int) throws -> EventPage {
        let limit = min(max(limit, 1), maxPage)
        let after = Int64(clamping: after)
        let epoch = try String.fetchOne(db, sql: "SELECT epoch FROM outbox_state WHERE id = 1") ?? ""
        let events = try Row.fetchAll(db, sql: "SELECT seq, type, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                      arguments: [after, limit]).map { row in
            StoredEvent(seq: UInt64(row["seq"] as Int64), type: row["type"], body: row["body"])
        }
        // AUTOINCREMENT keeps the last number in sqlite_sequence even when its row is purged.
        let last = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") ?? 0
        let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM outbox") ?? (last + 1)
        return EventPage(epoch: epoch, events: events, lastSequence: UInt64(last), oldest: UInt64(oldest))
    }

    /// Validates an `events` query and answers its page: what a service's `<service>.events` handler calls.
    package static func answer(_ query: EventsQuery, from reader: any DatabaseReader) async throws -> EventPage {
        let limit = query.limit ?? 500
        guard (1...maxPage).contains(limit) else { throw RemoteError("invalid_request", "limit must be from 1 to \(maxPage)") }
        return try await page(reader, after: query.after, limit: limit)
    }
}

/// Publishes what the outbox holds, in order, as soon as it is nudged after a commit (and about once
/// a second regardless), remembering how far it got. After a crash it publishes again from the last
/// number it recorded, so a few events may go out twice; subscribers drop numbers they have seen.
package final class OutboxRelay: Service, CustomStringConvertible {
    private let writer: any DatabaseWriter
    private let publisher: EventPublisher
    private let clock: any WallClock
    private let logger: Logger
    private let wakeUps = WakeUps()
    private let progress = Mutex<(recorded: UInt64, lastPurge: ContinuousClock.Instant)>((0, .now))
    private let published = Mutex<UInt64>(0)

    package init(writer: any DatabaseWriter, publisher: EventPublisher, clock: any WallClock = SystemClock(), logger: Logger) throws {
        self.writer = writer
        self.publisher = publisher
        self.clock = clock
        self.logger = logger
        let through = (try? Outbox.numbering(writer).publishedThrough) ?? 0
        published.withLock { $0 = through }
        _ = (Self.backlog, Self.lag, Self.published)
        progress.withLock { $0.recorded = through }
    }

    package var description: String { "OutboxRelay" }

    /// Tells the relay that a commit added events. Cheap, and safe from any thread.
    package func nudge() { wakeUps.nudge() }

    /// The number of the last event handed to the publisher.
    package var publishedThrough: UInt64 { published.withLock { $0 } }

    package func run() async throws {
        await wakeUps.run { [self] in
            do {
                try await relayOnce()
            } catch {
                // The events stay in the table; the next nudge or tick tries again.
                logger.warning("outbox relay failed", metadata: ["outbox.error": .string("\(error)")])
            }
        }
        // A last pass, so that what committed before the stop goes out before the publisher closes.
        try? await publishPending()
    }

    /// Publishes what is pending, records how far it got, and now and then purges old events.
    private func relayOnce() async throws {
        try await publishPending()
        let through = publishedThrough
        let (recorded, lastPurge) = progress.withLock { ($0.recorded, $0.lastPurge) }
        if through != recorded {
            try await writer.write { db in
                try db.execute(sql: "UPDATE outbox_state SET published_through = ? WHERE id = 1", arguments: [Int64(through)])
            }
            progress.withLock { $0.recorded = through }
        }
        if ContinuousClock.now - lastPurge > .seconds(600) {
            progress.withLock { $0.lastPurge = .now }
            let cutoff = clock.now().addingTimeInterval(-Outbox.retention)
            try await writer.write { db in
                try db.execute(sql: "DELETE FROM outbox WHERE created_at < ? AND seq <= ?", arguments: [cutoff, Int64(through)])
            }
        }
    }

    /// Hands every event after the last published one to the publisher, in order.
    /// Records how far behind it found itself (`outbox_backlog_events`, per pass) and is left
    /// (`outbox_lag_events`: committed, not yet published).
    package func publishPending() async throws {
        var first = true
        while true {
            let page = try await Outbox.page(writer, after: publishedThrough, limit: Outbox.maxPage)
            let behind = page.lastSequence > publishedThrough ? page.lastSequence - publishedThrough : 0
            if first, behind > 0 { Self.backlog.record(Int64(clamping: behind)) }
            first = false
            // Committed, not yet published: the instant a crash test wants (off unless FAILPOINTS arms it).
            if !page.events.isEmpty { FailPoint.outboxBeforePublish.reach() }
            for event in page.events {
                publisher.publish(sequence: event.seq, type: event.type, body: Data(event.body.utf8))
                published.withLock { $0 = event.seq }
            }
            Self.published.increment(by: Int64(page.events.count))
            if page.events.count < Outbox.maxPage {
                let through = publishedThrough
                Self.lag.record(Int64(clamping: page.lastSequence > through ? page.lastSequence - through : 0))
                return
            }
        }
    }

    private static let backlog = StackMetrics.sizes("outbox_backlog_events")
    private static let lag = StackMetrics.gauge("outbox_lag_events")
    private static let published = StackMetrics.counter("outbox_published_events_total")
}
