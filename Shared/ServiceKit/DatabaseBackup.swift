import Foundation
import GRDB

/// Why a backup or a restore was refused. The process says it in one line and exits non-zero.
package struct BackupError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Online backups of a service's SQLite file, and their restore (DESIGN §6). A copy is taken with
/// SQLite's backup API inside one read transaction, so it is the database as of one commit, while
/// the service keeps writing (in WAL mode a reader never blocks the writer). The copy is a single
/// self-contained file (rollback journal, not WAL), checked with `PRAGMA integrity_check`, and
/// appears under its name only once complete.
package enum DatabaseBackup {
    /// What a backup or restore did, printed as JSON.
    package struct Summary: Codable, Sendable {
        package let service: String
        package let source: String
        package let destination: String
        package let bytes: Int64
        package let pages: Int
        package let migrations: [String]
        package let integrity: String
        package let seconds: Double
        /// Where the file that a restore replaced was moved, if there was one.
        package let previous: String?
    }

    /// Copies the live database at `source` into a new file at `destination`.
    package static func backup(service: String, from source: String, to destination: String,
                               migrator: DatabaseMigrator) throws -> Summary {
        let started = ContinuousClock.now
        guard FileManager.default.fileExists(atPath: source) else { throw BackupError("no \(service) database at \(source)") }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw BackupError("\(destination) exists already; a backup never overwrites one")
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(5)
        let live = try DatabaseQueue(path: source, configuration: readOnly)
        let (migrations, pages) = try copy(live, to: destination, migrator: migrator, service: service)
        try live.close()
        return Summary(service: service, source: source, destination: destination, bytes: fileSize(destination), pages: pages,
                       migrations: migrations, integrity: "ok", seconds: seconds(since: started), previous: nil)
    }

    /// Puts the backup at `backup` in place of the service's file at `target`, which must not be in
    /// use: the file it replaces (with its WAL) is moved aside, never deleted.
    package static func restore(service: String, from backup: String, to target: String,
                                migrator: DatabaseMigrator, now: Date = Date()) throws -> Summary {
        let started = ContinuousClock.now
        guard FileManager.default.fileExists(atPath: backup) else { throw BackupError("no backup at \(backup)") }
        var readOnly = Configuration()
        readOnly.readonly = true
        let source = try DatabaseQueue(path: backup, configuration: readOnly)
        let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let incoming = target + ".restoring"
        try? FileManager.default.removeItem(atPath: incoming)
        let (migrations, pages) = try copy(source, to: incoming, migrator: migrator, service: service)
        try source.close()
        var previous: String?
        if FileManager.default.fileExists(atPath: target) {
            let stamp = ISO8601DateFormatter().string(from: now).replacingOccurrences(of: ":", with: "")
            let aside = "\(target).before-restore-\(stamp)"
            // The WAL and shared-memory files go with their database, under names that still pair them.
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: target + suffix) {
                try FileManager.default.moveItem(atPath: target + suffix, toPath: aside + suffix)
            }
            previous = aside
        }
        try FileManager.default.moveItem(atPath: incoming, toPath: target)
        return Summary(service: service, source: backup, destination: target, bytes: fileSize(target), pages: pages,
                       migrations: migrations, integrity: "ok", seconds: seconds(since: started), previous: previous)
    }

    /// Copies `source` into a new file at `destination` (written under a temporary name, then
    /// renamed), refusing a file that is not this service's database or is damaged.
    private static func copy(_ source: DatabaseQueue, to destination: String, migrator: DatabaseMigrator,
                             service: String) throws -> (migrations: [String], pages: Int) {
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        do {
            let copy = try DatabaseQueue(path: partial)
            try source.backup(to: copy)
            let (migrations, tables, pages, integrity) = try copy.writeWithoutTransaction { db in
                // One self-contained file: no WAL beside it to lose when it is copied elsewhere.
                try db.execute(sql: "PRAGMA journal_mode = DELETE")
                return (try migrator.appliedIdentifiers(db), try tableNames(db),
                        try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0,
                        try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; "))
            }
            try copy.close()
            guard integrity == "ok" else { throw BackupError("the copy failed its integrity check: \(integrity)") }
            // Every service's first migration is "v1", so the tables tell whose file this is.
            guard let last = migrator.migrations.last(where: migrations.contains), migrations.isSubset(of: migrator.migrations),
                  try expectedTables(migrator, upTo: last) == tables else {
                throw BackupError("this is not a \(service) database this version knows (migrations: \(migrations.sorted()), tables: \(tables.sorted()))")
            }
            try syncFile(partial)
            try FileManager.default.moveItem(atPath: partial, toPath: destination)
            return (migrator.migrations.filter(migrations.contains), pages)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    private static func syncFile(_ path: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try handle.synchronize()
        try handle.close()
    }

    private static func fileSize(_ path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        ((ContinuousClock.now - start) / .milliseconds(1)).rounded() / 1000
    }

    private static func tableNames(_ db: Database) throws -> Set<String> {
        try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    }

    /// The tables the service's migrations make, up to and including `last`.
    private static func expectedTables(_ migrator: DatabaseMigrator, upTo last: String) throws -> Set<String> {
        let reference = try DatabaseQueue()
        try migrator.migrate(reference, upTo: last)
        return try reference.read(tableNames)
    }
}
