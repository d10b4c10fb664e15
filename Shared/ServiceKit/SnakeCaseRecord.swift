import GRDB
import Synchronization

/// A row whose columns are its properties in snake_case: the seed ERD's names (CONTRACT §4) read
/// and written from Swift's camelCase, declared once for every service's records.
package protocol SnakeCaseRecord: Codable, FetchableRecord, TableRecord {}

extension SnakeCaseRecord {
    package static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy {
        .custom { column in ColumnNames.CodingKeyName(stringValue: ColumnNames.camelCase(column)) }
    }
}

extension SnakeCaseRecord where Self: EncodableRecord {
    package static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy {
        .custom { key in ColumnNames.snakeCase(key.stringValue) }
    }
}

/// The snake_case ⇄ camelCase name conversion of Foundation's and GRDB's `convertFromSnakeCase`
/// and `convertToSnakeCase`, remembered per name. GRDB's own strategies convert every column of
/// every row again, with string splitting and `CharacterSet` searches: profiled, that was a quarter
/// of the concert service's CPU when it served seat maps. A service has a few dozen names, so the
/// tables stay small.
package enum ColumnNames {
    private static let camelByColumn = Mutex<[String: String]>([:])
    private static let columnByKey = Mutex<[String: String]>([:])

    /// `concert_schedule_id` → `concertScheduleId`, as `convertFromSnakeCase` does it.
    package static func camelCase(_ column: String) -> String {
        if let known = camelByColumn.withLock({ $0[column] }) { return known }
        let converted = convertFromSnakeCase(column)
        camelByColumn.withLock { $0[column] = converted }
        return converted
    }

    /// `concertScheduleId` → `concert_schedule_id`, as `convertToSnakeCase` does it.
    package static func snakeCase(_ key: String) -> String {
        if let known = columnByKey.withLock({ $0[key] }) { return known }
        let converted = convertToSnakeCase(key)
        columnByKey.withLock { $0[key] = converted }
        return converted
    }

    /// Leading and trailing underscores kept; the words between them joined, each after the first
    /// capitalized (its first letter upper case, the rest lower case). A name without an inner
    /// underscore is left as it is.
    static func convertFromSnakeCase(_ name: String) -> String {
        guard let first = name.firstIndex(where: { $0 != "_" }) else { return name }
        guard let last = name.lastIndex(where: { $0 != "_" }) else { return name }
        let words = name[first...last].split(separator: "_")
        guard words.count > 1 else { return name }
        let joined = words[0].lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined()
        return String(name[..<first]) + joined + String(name[name.index(after: last)...])
    }

    /// Foundation's word split: a capital followed by lower case starts a word; a run of capitals
    /// is a word of its own up to the capital that starts the next one (`myURLProperty` →
    /// `my_url_property`); the first character never starts a word. Then lower-cased.
    static func convertToSnakeCase(_ key: String) -> String {
        let characters = Array(key)
        guard !characters.isEmpty else { return key }
        var words: [ArraySlice<Character>] = []
        var wordStart = 0
        var searchFrom = 1
        func next(_ test: (Character) -> Bool, from start: Int) -> Int? {
            characters.indices.dropFirst(start).first { test(characters[$0]) }
        }
        while let upper = next({ $0.isUppercase }, from: searchFrom) {
            words.append(characters[wordStart..<upper])
            guard let lower = next({ $0.isLowercase }, from: upper) else {
                wordStart = upper
                searchFrom = characters.count
                break
            }
            if lower == upper + 1 {
                wordStart = upper
            } else {
                words.append(characters[upper..<(lower - 1)])
                wordStart = lower - 1
            }
            searchFrom = lower + 1
        }
        words.append(characters[wordStart...])
        return words.map { String($0).lowercased() }.joined(separator: "_")
    }

    /// A plain coding key for GRDB's custom decoding strategy.
    package struct CodingKeyName: CodingKey {
        package let stringValue: String
        package var intValue: Int? { nil }
        package init(stringValue: String) { self.stringValue = stringValue }
        package init?(intValue: Int) { nil }
    }
}
