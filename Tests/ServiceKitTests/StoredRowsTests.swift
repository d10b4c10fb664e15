import GRDB
import Testing
@testable import ServiceKit

@Suite("Stored rows: enums read from their text, updates that must change one row")
struct StoredRowsTests {
    enum Color: String { case red, green }

    /// An in-memory table `paint (id, color)` holding `values`.
    static func paint(_ values: String) throws -> DatabaseQueue {
        let database = try DatabaseQueue()
        try database.write { db in
            try db.execute(sql: "CREATE TABLE paint (id INTEGER PRIMARY KEY, color TEXT)")
            try db.execute(sql: "INSERT INTO paint VALUES \(values)")
        }
        return database
    }

    @Test("a known text reads as its case; an unknown one or NULL is an error naming the table and the row, not a crash")
    func storedEnums() throws {
        let database = try Self.paint("(1, 'green'), (2, 'purple'), (3, NULL)")
        try database.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, color FROM paint ORDER BY id")
            #expect(try rows[0].stored(1, of: "paint") as Color == .green)
            for row in rows.dropFirst() {
                let error = #expect(throws: DatabaseError.self) { try row.stored(1, of: "paint") as Color }
                #expect(error?.resultCode == .SQLITE_MISMATCH)
                #expect(error?.message?.contains("paint \(row[0] as Int64)") == true)
            }
        }
    }

    @Test("an update that changed no row is an error; one that changed its row is not")
    func oneRowUpdated() throws {
        let database = try Self.paint("(1, 'green')")
        try database.write { db in
            try db.execute(sql: "UPDATE paint SET color = 'red' WHERE id = 1")
            try db.expectOneRowUpdated(in: "paint", key: ["id": 1])
            try db.execute(sql: "UPDATE paint SET color = 'red' WHERE id = 2")
            #expect(throws: RecordError.self) { try db.expectOneRowUpdated(in: "paint", key: ["id": 2]) }
        }
    }
}
