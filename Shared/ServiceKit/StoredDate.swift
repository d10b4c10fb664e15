import Foundation
import GRDB

/// Dates as every service's SQLite file stores them: GRDB's text, `yyyy-MM-dd HH:mm:ss.SSS` in UTC
/// (to the nearest millisecond), written with integer arithmetic. GRDB's own conversion goes through
/// a `DateFormatter`, a few microseconds for every date bound on the booking path (profiled,
/// docs/benchmarks.md). The text is the same byte for byte, so files read as before and SQL
/// compares the dates as before. Reading stays GRDB's (see `Row.storedDate`).
package enum StoredDate {
    /// The stored text of `date`.
    package static func text(_ date: Date) -> String {
        // To the nearest millisecond, as GRDB's DateFormatter does (the wire truncates instead).
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var days = milliseconds / 86_400_000
        var inDay = milliseconds % 86_400_000
        if inDay < 0 {
            inDay += 86_400_000
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        var bytes = [UInt8](repeating: 0, count: 23)
        func put(_ value: Int64, at start: Int, digits: Int) {
            var value = value
            for index in stride(from: start + digits - 1, through: start, by: -1) {
                bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
        }
        put(year, at: 0, digits: 4)
        bytes[4] = UInt8(ascii: "-")
        put(month, at: 5, digits: 2)
        bytes[7] = UInt8(ascii: "-")
        put(day, at: 8, digits: 2)
        bytes[10] = UInt8(ascii: " ")
        put(inDay / 3_600_000, at: 11, digits: 2)
        bytes[13] = UInt8(ascii: ":")
        put(inDay / 60_000 % 60, at: 14, digits: 2)
        bytes[16] = UInt8(ascii: ":")
        put(inDay / 1000 % 60, at: 17, digits: 2)
        bytes[19] = UInt8(ascii: ".")
        put(inDay % 1000, at: 20, digits: 3)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension Row {
    /// The date in column `index`, read as `StoredDate` text; other forms as GRDB reads them.
    package func storedDate(_ index: Int) -> Date? {
        // GRDB's own reading, kept: `StoredDate.date` lands within a rounding error of it, and a
        // date read one way and printed by the wire's truncating formatter may then differ by a
        // millisecond from the same date read the other way (an answer and its replay must agree).
        self[index] as Date?
    }

    /// The date in column `index`; a row without one (a schema constraint broken) is an error.
    package func requiredDate(_ index: Int) throws -> Date {
        guard let date = storedDate(index) else {
            throw DatabaseError(resultCode: .SQLITE_MISMATCH, message: "column \(index) holds no date")
        }
        return date
    }
}
