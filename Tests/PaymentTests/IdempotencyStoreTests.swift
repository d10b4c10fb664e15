import Foundation
import GRDB
import Logging
import Messaging
import ServiceKit
import Testing

/// The shared store of answers to keyed requests (Shared/ServiceKit/IdempotencyStore.swift).
@Suite("Idempotency store")
struct IdempotencyStoreTests {
    struct Answer: Codable, Equatable {
        let value: Int
        let at: Date
    }

    static func database() throws -> DatabaseQueue {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in try IdempotencyStore.createTable(db) }
        return try DatabaseOpener.openInMemory(migrator: migrator)
    }

    @Test("an unused key is absent; once stored, the same content replays the stored answer")
    func storeAndReplay() throws {
        let db = try Self.database()
        let answer = Answer(value: 7, at: Date(timeIntervalSince1970: 1_800_000_000))
        let fingerprint = try IdempotencyStore.fingerprint(["amount": 5, "seat": 3])
        try db.write { db in
            guard case .absent = try IdempotencyStore.lookup(Answer.self, in: db, scope: "s", key: "k", fingerprint: fingerprint) else {
                Issue.record("expected absent")
                return
            }
            try IdempotencyStore.store(answer, in: db, scope: "s", key: "k", fingerprint: fingerprint, at: Date())
        }
        try db.read { db in
            guard case .replay(let stored) = try IdempotencyStore.lookup(Answer.self, in: db, scope: "s", key: "k", fingerprint: fingerprint) else {
                Issue.record("expected a replay")
                return
            }
            #expect(stored == answer)
        }
    }

    @Test("the same key with different content is reported as reused; another scope is independent")
    func reusedAndScoped() throws {
        let db = try Self.database()
        try db.write { db in
            try IdempotencyStore.store(Answer(value: 1, at: Date()), in: db, scope: "user:1", key: "k",
                                       fingerprint: try IdempotencyStore.fingerprint(["amount": 5]), at: Date())
        }
        try db.read { db in
            let other = try IdempotencyStore.fingerprint(["amount": 6])
            guard case .reused = try IdempotencyStore.lookup(Answer.self, in: db, scope: "user:1", key: "k", fingerprint: other) else {
                Issue.record("expected reused")
                return
            }
            guard case .absent = try IdempotencyStore.lookup(Answer.self, in: db, scope: "user:2", key: "k", fingerprint: other) else {
                Issue.record("expected absent in another scope")
                return
            }
        }
        #expect(RemoteError.idempotencyKeyReused("k").code == "idempotency_key_reused")
    }

    @Test("fingerprints do not depend on the order of keys")
    func fingerprintIsCanonical() throws {
        #expect(try IdempotencyStore.fingerprint(["a": 1, "b": 2]) == IdempotencyStore.fingerprint(["b": 2, "a": 1]))
        #expect(try IdempotencyStore.fingerprint(["a": 1]) != IdempotencyStore.fingerprint(["a": 2]))
    }

    @Test("keys are 1 to 255 characters")
    func keyLengths() {
        #expect(IdempotencyStore.isValidKey("k"))
        #expect(IdempotencyStore.isValidKey(String(repeating: "é", count: 255)))
        #expect(!IdempotencyStore.isValidKey(""))
        #expect(!IdempotencyStore.isValidKey(String(repeating: "k", count: 256)))
        #expect(!IdempotencyStore.isValidKey(String(repeating: "k", count: 1 << 20)))
    }

    @Test("a purge removes only answers older than the retention, never younger than 24 hours, in bounded batches")
    func purge() async throws {
        let db = try Self.database()
        let clock = ManualClock()
        let start = clock.now()
        try await db.write { db in
            for index in 0..<25 {
                try IdempotencyStore.store(Answer(value: index, at: start), in: db, scope: "s", key: "old\(index)", fingerprint: "f",
                                           at: start)
            }
            try IdempotencyStore.store(Answer(value: 0, at: start), in: db, scope: "s", key: "young", fingerprint: "f",
                                       at: start.addingTimeInterval(3600))
        }
        // A retention shorter than 24 hours is raised to 24 hours.
        let loop = IdempotencyPurgeLoop(writer: db, clock: clock, retention: 60, logger: Logger(label: "test"))
        clock.advance(by: 24 * 3600)
        #expect(try await loop.purgeOnce(batch: 10) == 0)
        clock.advance(by: 1)
        #expect(try await loop.purgeOnce(batch: 10) == 25)
        let left = try await db.read { try String.fetchAll($0, sql: "SELECT key FROM \(IdempotencyStore.tableName)") }
        #expect(left == ["young"])
    }
}
