import GRDB
import Testing
import TestSupport
@testable import ServiceKit

@Suite("Opening a service's SQLite file (DESIGN §6)")
struct DatabaseOpenerTests {
    var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "thing") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("name", .text).notNull()
            }
        }
        return migrator
    }

    @Test("a pool in WAL mode with synchronous=FULL, foreign keys on, migrations applied, folders created")
    func openPool() throws {
        let folder = try TemporaryDirectory("db")
        defer { folder.remove() }
        let pool = try DatabaseOpener.openPool(path: folder.file("nested/dir/service.sqlite"), migrator: migrator)
        try pool.write { db in try db.execute(sql: "INSERT INTO thing (name) VALUES ('a')") }
        let (journal, synchronous, foreignKeys, rows) = try pool.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"), try Int.fetchOne(db, sql: "SELECT count(*) FROM thing"))
        }
        #expect(journal == "wal")
        #expect(synchronous == 2)
        #expect(foreignKeys == 1)
        #expect(rows == 1)
        #expect(try pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        #expect(try pool.read { try migrator.appliedIdentifiers($0) } == ["v1"])
    }

    @Test("opening again keeps the data and applies nothing twice")
    func reopen() throws {
        let folder = try TemporaryDirectory("db")
        defer { folder.remove() }
        let path = folder.file("service.sqlite")
        do {
            let pool = try DatabaseOpener.openPool(path: path, migrator: migrator)
            try pool.write { db in try db.execute(sql: "INSERT INTO thing (name) VALUES ('kept')") }
        }
        let again = try DatabaseOpener.openPool(path: path, migrator: migrator)
        #expect(try again.read { try String.fetchOne($0, sql: "SELECT name FROM thing") } == "kept")
    }

    @Test("the in-memory database for tests has the same schema")
    func inMemory() throws {
        let queue = try DatabaseOpener.openInMemory(migrator: migrator)
        #expect(try queue.read { try $0.tableExists("thing") })
    }
}
