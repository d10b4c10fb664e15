import Dispatch
import GRDB
import Testing
import TestSupport
@testable import ServiceKit

@Suite("Group commit: one writer, one fsync for whatever waits (DESIGN §6)")
struct GroupCommitTests {
    struct Refused: Error, Equatable {}

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "parent") { t in t.primaryKey("id", .integer) }
            try db.execute(sql: "INSERT INTO parent (id) VALUES (1)")
            try db.create(table: "thing") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull().unique()
                // Checked at COMMIT only, so a batch can fail as a whole after every write succeeded.
                t.column("parentId", .integer).references("parent", deferred: true)
            }
        }
        return migrator
    }

    /// A real file in WAL mode with synchronous=FULL, as the services open theirs.
    struct Fixture {
        let folder: TemporaryDirectory
        let pool: DatabasePool
        let commits: GroupCommit

        init() throws {
            folder = try TemporaryDirectory("group-commit")
            pool = try DatabaseOpener.openPool(path: folder.file("service.sqlite"), migrator: GroupCommitTests.migrator)
            commits = GroupCommit(pool)
        }

        func names() throws -> [String] {
            try pool.read { try String.fetchAll($0, sql: "SELECT name FROM thing ORDER BY id") }
        }

        /// Occupies the writer until `release` is signalled, so the writes sent meanwhile wait together.
        func holdWriter(until release: DispatchSemaphore) -> Task<Void, any Error> {
            Task {
                try await commits.write { db in
                    try db.execute(sql: "INSERT INTO thing (name) VALUES ('gate')")
                    release.wait()
                }
            }
        }

        func waitUntilQueued(_ count: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(5)
            while commits.waitingCount < count {
                guard ContinuousClock.now < deadline else { throw Refused() }
                try await Task.sleep(for: .milliseconds(1))
            }
        }

        func insert(_ name: String, parent: Int = 1, thenFail: Bool = false) -> Task<Int64, any Error> {
            Task {
                try await commits.write { db in
                    try db.execute(sql: "INSERT INTO thing (name, parentId) VALUES (?, ?)", arguments: [name, parent])
                    if thenFail { throw Refused() }
                    return db.lastInsertedRowID
                }
            }
        }
    }

    @Test("writes that wait while a transaction runs commit together in the next one")
    func batches() async throws {
        let fixture = try Fixture()
        defer { fixture.folder.remove() }
        let release = DispatchSemaphore(value: 0)
        let gate = fixture.holdWriter(until: release)
        try await Task.sleep(for: .milliseconds(20))
        let writes = (0..<10).map { fixture.insert("w\($0)") }
        try await fixture.waitUntilQueued(10)
        release.signal()
        try await gate.value
        var ids: [Int64] = []
        for write in writes { ids.append(try await write.value) }

        #expect(Set(ids).count == 10)
        #expect(try fixture.names().count == 11)
        let statistics = fixture.commits.statistics
        #expect(statistics.writes == 11)
        #expect(statistics.batches == 2)
        #expect(statistics.largestBatch == 10)
        #expect(statistics.retriedAlone == 0)
    }

    @Test("a write that throws rolls back its own savepoint and gets its own error; the others commit")
    func failureIsolated() async throws {
        let fixture = try Fixture()
        defer { fixture.folder.remove() }
        let release = DispatchSemaphore(value: 0)
        let gate = fixture.holdWriter(until: release)
        try await Task.sleep(for: .milliseconds(20))
        let first = fixture.insert("a")
        try await fixture.waitUntilQueued(1)
        let failing = fixture.insert("b", thenFail: true)
        try await fixture.waitUntilQueued(2)
        let duplicate = fixture.insert("a")  // the UNIQUE constraint refuses it, after "a" in the same batch
        try await fixture.waitUntilQueued(3)
        let last = fixture.insert("c")
        try await fixture.waitUntilQueued(4)
        release.signal()
        try await gate.value

        _ = try await first.value
        await #expect(throws: Refused.self) { try await failing.value }
        await #expect(throws: DatabaseError.self) { try await duplicate.value }
        _ = try await last.value
        #expect(try fixture.names() == ["gate", "a", "c"])
        #expect(fixture.commits.statistics.largestBatch == 4)
        #expect(fixture.commits.statistics.retriedAlone == 0)
    }

    @Test("a batch whose commit fails runs each write again alone: only the bad one is refused")
    func commitFailureRetriedAlone() async throws {
        let fixture = try Fixture()
        defer { fixture.folder.remove() }
        let release = DispatchSemaphore(value: 0)
        let gate = fixture.holdWriter(until: release)
        try await Task.sleep(for: .milliseconds(20))
        let good = fixture.insert("good")
        try await fixture.waitUntilQueued(1)
        let orphan = fixture.insert("orphan", parent: 99)  // breaks the deferred foreign key at COMMIT
        try await fixture.waitUntilQueued(2)
        let alsoGood = fixture.insert("also good")
        try await fixture.waitUntilQueued(3)
        release.signal()
        try await gate.value

        _ = try await good.value
        await #expect(throws: DatabaseError.self) { try await orphan.value }
        _ = try await alsoGood.value
        #expect(try fixture.names() == ["gate", "good", "also good"])
        #expect(fixture.commits.statistics.retriedAlone == 1)
    }

    @Test("a write returns only once it is committed: another connection reads it at once")
    func answersAfterCommit() async throws {
        let fixture = try Fixture()
        defer { fixture.folder.remove() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    let id = try await fixture.insert("n\(index)").value
                    let seen = try await fixture.pool.read { try String.fetchOne($0, sql: "SELECT name FROM thing WHERE id = ?", arguments: [id]) }
                    #expect(seen == "n\(index)")
                }
            }
            try await group.waitForAll()
        }
        // A fresh connection to the same file, as after a crash, finds every write that was answered.
        let reopened = try DatabaseOpener.openPool(path: fixture.folder.file("service.sqlite"), migrator: Self.migrator)
        #expect(try await reopened.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM thing") } == 200)
        #expect(fixture.commits.statistics.writes == 200)
    }
}
