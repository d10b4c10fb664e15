import Foundation
import GRDB
import Testing
@testable import ServiceKit

@Suite("Column names: snake_case in SQLite, camelCase in Swift, converted once per name")
struct ColumnNamesTests {
    /// Names of this project's records, and the awkward shapes (acronyms, digits, underscores).
    static let keys = ["id", "concertScheduleId", "remainTicket", "reservationStartAt", "apiKeyHash", "balanceAfter",
                       "myURLProperty", "URLValue", "seat1Id", "version", "x"]
    static let columns = ["id", "concert_schedule_id", "remain_ticket", "api_key_hash", "_private", "trailing_",
                          "__both__ends__", "already", "url_value", "seat1_id"]

    /// Encodes a keyed container of `names` with JSONEncoder's own strategy, to compare against.
    struct Names: Encodable {
        let names: [String]
        struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            for name in names { try container.encode(0, forKey: Key(stringValue: name)) }
        }
    }

    @Test("camelCase → snake_case as Foundation's convertToSnakeCase does it", arguments: keys)
    func toSnakeCase(key: String) throws {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = try JSONSerialization.jsonObject(with: encoder.encode(Names(names: [key]))) as? [String: Int]
        #expect(ColumnNames.snakeCase(key) == json?.keys.first)
    }

    @Test("snake_case → camelCase as Foundation's convertFromSnakeCase does it", arguments: columns)
    func fromSnakeCase(column: String) throws {
        struct Keys: Decodable {
            let found: [String]
            init(from decoder: any Decoder) throws {
                found = try decoder.container(keyedBy: Names.Key.self).allKeys.map(\.stringValue)
            }
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let keys = try decoder.decode(Keys.self, from: Data(#"{"\#(column)": 0}"#.utf8))
        #expect(ColumnNames.camelCase(column) == keys.found.first)
    }

    struct Thing: SnakeCaseRecord, PersistableRecord {
        static let databaseTableName = "thing"
        var id: Int64
        var concertScheduleId: Int64
        var remainTicket: Int
    }

    @Test("a record written and read back through the cached names")
    func roundTrip() throws {
        let db = try DatabaseQueue()
        try db.write { db in
            try db.execute(sql: "CREATE TABLE thing (id INTEGER PRIMARY KEY, concert_schedule_id INTEGER NOT NULL, remain_ticket INTEGER NOT NULL)")
            try Thing(id: 1, concertScheduleId: 7, remainTicket: 49).insert(db)
        }
        let read = try db.read { try Thing.fetchOne($0, key: 1) }
        #expect(read?.concertScheduleId == 7 && read?.remainTicket == 49)
        #expect(try db.read { try Int.fetchOne($0, sql: "SELECT remain_ticket FROM thing") } == 49)
    }
}
