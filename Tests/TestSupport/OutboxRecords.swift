import Foundation
import GRDB

/// A service's outbox as its SQLite file holds it, read read-only with plain SQL: what a follower of
/// its events must end up with, and how far its relay had recorded publishing (for a process that
/// died between a commit and its publish).
package struct OutboxRecords {
    /// One row of `outbox`.
    package struct Event: Sendable, Equatable {
        package let seq: UInt64
        package let type: String
        /// The JSON body as stored.
        package let body: String
    }

    package let epoch: String
    package let publishedThrough: UInt64
    package let events: [Event]

    /// The newest number in the table (0 when empty).
    package var lastSequence: UInt64 { events.last?.seq ?? 0 }

    /// Reads `file` (say `<DATA_DIR>/reservation.sqlite`) read-only, while its service runs or after it died.
    package init(file: String) throws {
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: file, configuration: configuration)
        defer { try? database.close() }
        (epoch, publishedThrough, events) = try database.read { db in
            let state = try Row.fetchOne(db, sql: "SELECT epoch, published_through FROM outbox_state WHERE id = 1")
            let events = try Row.fetchAll(db, sql: "SELECT seq, type, body FROM outbox ORDER BY seq").map { row in
                Event(seq: UInt64(row["seq"] as Int64), type: row["type"], body: row["body"])
            }
            let through: Int64 = state?["published_through"] ?? 0
            return (state?["epoch"] ?? "", UInt64(max(0, through)), events)
        }
    }
}
