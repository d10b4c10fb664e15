import Crypto
import Foundation

/// API keys: 32 random bytes, base64url, behind a recognisable prefix (so a leaked key is easy to
/// spot in logs and by secret scanners). Only their SHA-256 is stored.
enum APIKey {
    static let prefix = "ctk_"
    /// Longer than any key this service issues (47 characters); anything longer is refused unread.
    static let maxLength = 128

    /// A new key from the system's cryptographic random source.
    static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        for _ in 0..<4 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return prefix + base64URL(bytes)
    }

    /// The SHA-256 of the key's UTF-8 bytes: what the `user` table keeps instead of the key.
    static func hash(_ key: String) -> Data {
        Data(SHA256.hash(data: Data(key.utf8)))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
