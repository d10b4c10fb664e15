import GRDB

/// A row whose columns are its properties in snake_case: the seed ERD's names (CONTRACT §4) read
/// and written from Swift's camelCase, declared once for every service's records.
package protocol SnakeCaseRecord: Codable, FetchableRecord, TableRecord {}

extension SnakeCaseRecord {
    package static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
}

extension SnakeCaseRecord where Self: EncodableRecord {
    package static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}
