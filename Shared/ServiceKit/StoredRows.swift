import GRDB

// What every service's hand-written records share (rows read by column index and written through
// cached statements, `ReservationRecord` and the rest): written once here.

extension Row {
    /// The enum stored as text in column `index`. A text no case has means the schema's CHECK was
    /// broken: an error naming the table and the row (column 0, its key), never a crash.
    package func stored<Value: RawRepresentable>(_ index: Int, of table: String) throws -> Value where Value.RawValue == String {
        guard let text = self[index] as String?, let value = Value(rawValue: text) else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH,
                                message: "\(table) \(self[0] as DatabaseValue): column \(index) holds no known \(Value.self)")
        }
        return value
    }
}

extension Database {
    /// Checks that the UPDATE just run changed exactly one row, the one with `key` in `table`, which must exist.
    package func expectOneRowUpdated(in table: String, key: [String: (any DatabaseValueConvertible)?]) throws {
        guard changesCount == 1 else { throw RecordError.recordNotFound(databaseTableName: table, key: key.mapValues { $0?.databaseValue ?? .null }) }
    }
}
