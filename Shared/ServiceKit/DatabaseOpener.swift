import Foundation
import GRDB

/// Opens a service's own SQLite file the one way every service does (DESIGN §6): a `DatabasePool`
/// in WAL mode, `synchronous=FULL` so an acknowledged write survives power loss, a busy timeout
/// instead of instant `SQLITE_BUSY`, foreign keys on, and the service's migrations applied.
package enum DatabaseOpener {
    package static func openPool(path: String, migrator: DatabaseMigrator) throws -> DatabasePool {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: path, configuration: configuration())
        // GRDB sets the writer to synchronous=NORMAL when it enables WAL, after `prepareDatabase`;
        // the pool keeps one writer connection, so setting it back once holds for the pool's life.
        try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try migrator.migrate(pool)
        return pool
    }

    /// An in-memory database with the same settings and migrations, for tests (GRDB's demo-app style).
    package static func openInMemory(migrator: DatabaseMigrator) throws -> DatabaseQueue {
        let queue = try DatabaseQueue(configuration: configuration())
        try migrator.migrate(queue)
        return queue
    }

    static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        return configuration
    }
}
