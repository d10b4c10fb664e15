import Contracts
import Crypto
import Foundation

/// Signs and checks wire tokens (`QueueToken`) with HMAC-SHA256 under the queue's own key, so a
/// token cannot be guessed, altered or made up by anyone but the queue.
struct TokenSigner: Sendable {
    private let key: SymmetricKey

    init(key: Data) {
        self.key = SymmetricKey(data: key)
    }

    /// The wire text of a stored token.
    func text(for token: Token) -> String {
        var wire = QueueToken(userId: token.userId, seq: token.seq, issuedAtMs: Self.milliseconds(token.createdAt),
                              nonce: token.uuid, mac: Data())
        wire.mac = Data(HMAC<SHA256>.authenticationCode(for: Data(wire.signedText.utf8), using: key))
        return wire.text
    }

    /// The token's claims when it has the form and its MAC is this key's; nil otherwise.
    func verify(_ text: String) -> QueueToken? {
        guard let wire = QueueToken(parsing: text),
              // Compares in constant time.
              HMAC<SHA256>.isValidAuthenticationCode(wire.mac, authenticating: Data(wire.signedText.utf8), using: key)
        else { return nil }
        return wire
    }

    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
