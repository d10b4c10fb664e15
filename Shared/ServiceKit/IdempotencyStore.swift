import Foundation
import GRDB
import Logging
import Messaging
import ServiceLifecycle

/// Stored answers to keyed requests (DESIGN §3, CONTRACT §3 "Idempotency"): a table of
/// (scope, key) → (fingerprint of the request, the answer as JSON, when it was stored).
///
/// Every helper runs inside the caller's own write transaction, so an answer is stored in the
/// same commit as the effect it describes: either both are kept or neither is. A caller looks up
/// first and, on `.absent`, does its work and stores the answer before committing. Only answers
/// that changed something are stored; a refusal stores nothing, so the same key may be retried
/// once its cause is fixed. Answers are kept as wire JSON (`WireCodec`), so a replay is what the
/// first answer looked like on the wire (dates to the second).
package enum IdempotencyStore {
    package static let tableName = "idempotency_key"
    /// How long an answer is kept at least (CONTRACT §3: 24 hours).
    package static let minimumRetention: TimeInterval = 24 * 60 * 60
    /// The lengths a key may have, in characters (CONTRACT §3).
    package static let keyLengths = 1...255

    /// What is known about a key in a scope.
    package enum Lookup<Answer> {
        /// Never used (or purged): do the work and `store` its answer.
        case absent
        /// Used before with the same content: answer this again and change nothing.
        case replay(Answer)
        /// Used before with different content: refuse with `RemoteError.idempotencyKeyReused`.
        case reused
    }

    /// Creates the table; call it from a migration of any service that keeps answers.
    package static func createTable(_ db: Database) throws {
        try db.create(table: tableName) { t in
            t.column("scope", .text).notNull()
            t.column("key", .text).notNull()
            t.column("fingerprint", .text).notNull()
            t.column("answer", .text).notNull()
            t.column("created_at", .datetime).notNull()
            t.primaryKey(["scope", "key"])
        }
        try db.create(index: "\(tableName)_created_at", on: tableName, columns: ["created_at"])
    }

    /// Whether `key` may be used: 1–255 characters.
    package static func isValidKey(_ key: String) -> Bool {
        // The byte count bounds the work of counting characters in a hostile string.
        key.utf8.count <= keyLengths.upperBound * 4 && keyLengths.contains(key.count)
    }

    /// A stable text of a request's content: JSON with sorted keys, so equal content gives equal text.
    package static func fingerprint<Content: Encodable>(_ content: Content) throws -> String {
        String(decoding: try WireCodec.encoder.encode(content), as: UTF8.self)
    }

    /// Looks `key` up in `scope`, comparing the stored fingerprint with `fingerprint`.
    package static func lookup<Answer: Decodable>(
        _ type: Answer.Type, in db: Database, scope: String, key: String, fingerprint: String
    ) throws -> Lookup<Answer> {
        guard let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT fingerprint, answer FROM \(tableName) WHERE scope = ? AND key = ?"), arguments: [scope, key]
        ) else { return .absent }
        guard row[0] as String == fingerprint else { return .reused }
        let answer: String = row[1]
        return .replay(try WireCodec.decoder.decode(Answer.self, from: Data(answer.utf8)))
    }

    /// Stores the answer to a request that changed something. The key must be `.absent` in this transaction.
    package static func store<Answer: Encodable>(
        _ answer: Answer, in db: Database, scope: String, key: String, fingerprint: String, at now: Date
    ) throws {
        let json = String(decoding: try WireCodec.encoder.encode(answer), as: UTF8.self)
        try db.cachedStatement(sql: "INSERT INTO \(tableName) (scope, key, fingerprint, answer, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [scope, key, fingerprint, json, StoredDate.text(now)])
    }

    /// Deletes at most `limit` answers stored before `cutoff`; returns how many it deleted.
    /// Bounded so that one purge never holds the writer for long.
    @discardableResult
    package static func purge(in db: Database, storedBefore cutoff: Date, limit: Int = 1000) throws -> Int {
        try db.execute(
            sql: "DELETE FROM \(tableName) WHERE rowid IN (SELECT rowid FROM \(tableName) WHERE created_at < ? LIMIT ?)",
            arguments: [StoredDate.text(cutoff), limit]
        )
        return db.changesCount
    }
}

extension RemoteError {
    /// The same idempotency key sent again with different content (CONTRACT §3: 422).
    package static func idempotencyKeyReused(_ key: String) -> RemoteError {
        RemoteError("idempotency_key_reused", "the idempotency key \"\(key.prefix(64))\" was already used for a different request")
    }
}

/// A loop that deletes stored answers older than the retention, every `interval`, in small batches.
package struct IdempotencyPurgeLoop: Service, CustomStringConvertible {
    private let writer: any DatabaseWriter
    private let clock: any WallClock
    private let retention: TimeInterval
    private let interval: Duration
    private let logger: Logger

    package init(
        writer: any DatabaseWriter,
        clock: any WallClock,
        retention: TimeInterval = IdempotencyStore.minimumRetention,
        interval: Duration = .seconds(600),
        logger: Logger
    ) {
        self.writer = writer
        self.clock = clock
        self.retention = max(retention, IdempotencyStore.minimumRetention)
        self.interval = interval
        self.logger = logger
    }

    package var description: String { "IdempotencyPurgeLoop" }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let purged = try await purgeOnce()
                if purged > 0 { logger.debug("purged idempotency answers", metadata: ["idempotency.purged": .stringConvertible(purged)]) }
            } catch {
                // The next round tries again; stale answers only cost space.
                logger.warning("idempotency purge failed", metadata: ["idempotency.error": .string("\(error)")])
            }
            try? await cancelWhenGracefulShutdown { [interval] in try await Task.sleep(for: interval) }
        }
    }

    /// Deletes every answer older than the retention, one bounded transaction at a time.
    @discardableResult
    package func purgeOnce(batch: Int = 1000) async throws -> Int {
        let cutoff = clock.now().addingTimeInterval(-retention)
        var total = 0
        while true {
            let purged = try await writer.write { db in try IdempotencyStore.purge(in: db, storedBefore: cutoff, limit: batch) }
            total += purged
            if purged < batch || Task.isCancelled { return total }
        }
    }
}
