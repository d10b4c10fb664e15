import Foundation
import GRDB
import Testing
@testable import ServiceKit

@Suite("Stored dates: GRDB's text, written without a DateFormatter")
struct StoredDateTests {
    /// Dates around the edges that matter: the epoch, leap days, far ahead, and
    /// fractions that round into the next second.
    static let samples: [Date] = [
        Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -1.2345), Date(timeIntervalSince1970: 86_400 * 365.25 * 30 - 0.0004),
        Date(timeIntervalSince1970: 951_782_400), // 2000-02-29
        Date(timeIntervalSince1970: 4_107_542_399.9999), // 2100-02-28 23:59:59.9999
        Date(timeIntervalSince1970: 1_798_761_599.999), Date(timeIntervalSince1970: 1_798_761_600.0004),
    ]

    @Test("the text is GRDB's own, byte for byte, for edge dates and thousands of random ones")
    func sameTextAsGRDB() throws {
        let random = (0..<5000).map { _ in Date(timeIntervalSince1970: Double.random(in: -2e9...5e9)) }
        for date in Self.samples + random {
            // A tie (half a millisecond exactly, to a rounding error) may go either way.
            let tie = abs((date.timeIntervalSince1970 * 1000).truncatingRemainder(dividingBy: 1).magnitude - 0.5) < 1e-3
            #expect(tie || StoredDate.text(date) == String.fromDatabaseValue(date.databaseValue), "\(date.timeIntervalSince1970)")
        }
    }

    @Test("GRDB reads the text back to a date whose text is the same")
    func readsBack() throws {
        for date in Self.samples + (0..<2000).map({ _ in Date(timeIntervalSince1970: Double.random(in: 0...4e9)) }) {
            let text = StoredDate.text(date)
            let read = try #require(Date.fromDatabaseValue(text.databaseValue))
            #expect(StoredDate.text(read) == text)
        }
    }

    @Test("a row's date column reads as GRDB reads it; a missing one is an error where required")
    func rowColumns() throws {
        let queue = try DatabaseQueue()
        let date = Date(timeIntervalSince1970: 1_796_466_030.123)
        let row = try queue.read { db in
            try Row.fetchOne(db, sql: "SELECT ?, ?, NULL", arguments: [StoredDate.text(date), 1_796_466_030.5])
        }
        let columns = try #require(row)
        #expect(abs((columns.storedDate(0)?.timeIntervalSince1970 ?? 0) - 1_796_466_030.123) < 1e-6)
        #expect(columns.storedDate(1)?.timeIntervalSince1970 == 1_796_466_030.5)
        #expect(columns.storedDate(2) == nil)
        #expect(throws: DatabaseError.self) { try columns.requiredDate(2) }
    }
}
