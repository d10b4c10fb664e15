import Crypto
import Foundation
import Messaging

/// The queue service's methods and events: the waiting room (CONTRACT §3 "Waiting room", DESIGN §5).
///
/// Every method that takes a token refuses one that is malformed, forged, unknown or another user's
/// with `queue_token_inactive`, without saying which, so a caller learns nothing by guessing.
package enum QueueAPI {
    /// Issues the user a token at the back of the line, or gives back the live (waiting or active)
    /// one it already has. `created` tells the two apart (HTTP 201 vs 200).
    /// Errors: `invalid_request` (userId not positive).
    package static let issue = RPCMethod<IssueToken, IssuedToken>("queue.issue", idempotent: true)

    /// The token's place in line, or its expiry once admitted. Counts as the owner asking about it,
    /// which keeps a waiting token from expiring as idle.
    /// Errors: `invalid_request`, `queue_token_inactive` (not this user's token).
    package static let status = RPCMethod<TokenQuery, TokenView>("queue.status", idempotent: true)

    /// Whether the token is this user's and active now: the gated endpoints' check. Read-only.
    /// Errors: `invalid_request`, `queue_token_inactive` (not this user's token).
    package static let validate = RPCMethod<TokenQuery, TokenValidity>("queue.validate", idempotent: true)

    /// Expires the user's live token, if any: the user left the line, or paid. With `token`, only
    /// that token is expired, so a late retry cannot end a token issued since.
    /// Errors: `invalid_request`, `queue_token_inactive` (a `token` that is not this user's).
    package static let expire = RPCMethod<ExpireToken, ExpireOutcome>("queue.expire", idempotent: true)

    /// Published after each admission tick that admitted anyone. Body: `AdmittedEvent`.
    package static let admittedEvent = "queue.admitted"
    /// Published after each tick or call that expired anyone. Body: `ExpiredEvent`.
    package static let expiredEvent = "queue.expired"
}

/// `queue.issue`'s request.
package struct IssueToken: Codable, Sendable, Equatable {
    package var userId: Int64

    package init(userId: Int64) {
        self.userId = userId
    }
}

/// `queue.issue`'s reply: the token, and whether this call created it.
package struct IssuedToken: Codable, Sendable, Equatable {
    package var view: TokenView
    /// False when the user already had this live token.
    package var created: Bool

    package init(view: TokenView, created: Bool) {
        self.view = view
        self.created = created
    }
}

/// A user and the token they present (`queue.status`, `queue.validate`).
package struct TokenQuery: Codable, Sendable, Equatable {
    package var userId: Int64
    package var token: String

    package init(userId: Int64, token: String) {
        self.userId = userId
        self.token = token
    }
}

/// Where a token stands (CONTRACT §4 `token.status`).
package enum TokenStatus: String, Codable, Sendable, Equatable {
    case waiting, active, expired
}

/// A token as its owner sees it: the body of the waiting-room endpoints (CONTRACT §3).
package struct TokenView: Codable, Sendable, Equatable {
    package var token: String
    package var status: TokenStatus
    /// Places ahead in line plus one while waiting (an upper bound: places left empty count too); 0 otherwise.
    package var position: Int
    package var estimatedWaitSeconds: Int
    /// When an active token stops being active, or when an expired one did; null while waiting.
    package var expiresAt: Date?
    /// How long the client should wait before asking again.
    package var pollAfterMs: Int

    package init(token: String, status: TokenStatus, position: Int, estimatedWaitSeconds: Int, expiresAt: Date?, pollAfterMs: Int) {
        self.token = token
        self.status = status
        self.position = position
        self.estimatedWaitSeconds = estimatedWaitSeconds
        self.expiresAt = expiresAt
        self.pollAfterMs = pollAfterMs
    }

    private enum CodingKeys: String, CodingKey {
        case token, status, position, estimatedWaitSeconds, expiresAt, pollAfterMs
    }

    // `expiresAt` is written as an explicit null, as CONTRACT §3 shows it, so the gateway can pass the view on as is.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(token, forKey: .token)
        try container.encode(status, forKey: .status)
        try container.encode(position, forKey: .position)
        try container.encode(estimatedWaitSeconds, forKey: .estimatedWaitSeconds)
        try container.encode(expiresAt, forKey: .expiresAt)
        try container.encode(pollAfterMs, forKey: .pollAfterMs)
    }
}

/// `queue.validate`'s reply.
package struct TokenValidity: Codable, Sendable, Equatable {
    package var active: Bool
    /// When the token stops being active; null unless `active`.
    package var expiresAt: Date?

    package init(active: Bool, expiresAt: Date?) {
        self.active = active
        self.expiresAt = expiresAt
    }

    private enum CodingKeys: String, CodingKey {
        case active, expiresAt
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(active, forKey: .active)
        try container.encode(expiresAt, forKey: .expiresAt)
    }
}

/// `queue.expire`'s request.
package struct ExpireToken: Codable, Sendable, Equatable {
    package var userId: Int64
    /// When given, only this token is expired (and it must be the user's).
    package var token: String?
    /// When given, only a token issued at or before this time is expired, so that a retry arriving
    /// after the user joined the line again (say, after a payment) leaves the new token alone.
    package var issuedBefore: Date?

    package init(userId: Int64, token: String? = nil, issuedBefore: Date? = nil) {
        self.userId = userId
        self.token = token
        self.issuedBefore = issuedBefore
    }
}

/// `queue.expire`'s reply.
package struct ExpireOutcome: Codable, Sendable, Equatable {
    /// Whether this call expired a token; false when there was none live (already expired, or never issued).
    package var expired: Bool

    package init(expired: Bool) {
        self.expired = expired
    }
}

/// `queue.admitted`: admission has reached `throughSeq`, and these tokens became active.
///
/// With `queue.expired`, enough for a gateway to know the active tokens without asking: the token
/// with `digest` is active from its admission until `expiresAt`, unless an expired event names its
/// `seq` first. A gateway that has just started, or saw a gap in the numbering, asks `queue.validate`.
package struct AdmittedEvent: Codable, Sendable, Equatable {
    /// The highest sequence admitted so far ("now serving").
    package var throughSeq: Int64
    package var tokens: [AdmittedToken]

    package init(throughSeq: Int64, tokens: [AdmittedToken]) {
        self.throughSeq = throughSeq
        self.tokens = tokens
    }
}

/// One token admitted by a tick.
package struct AdmittedToken: Codable, Sendable, Equatable {
    package var userId: Int64
    package var seq: Int64
    package var expiresAt: Date
    /// `QueueToken.digest(of:)` of the token's wire text: a gateway that holds it can tell the
    /// genuine token from a forged one without the queue's key, and the event carries no usable token.
    package var digest: String

    package init(userId: Int64, seq: Int64, expiresAt: Date, digest: String) {
        self.userId = userId
        self.seq = seq
        self.expiresAt = expiresAt
        self.digest = digest
    }
}

/// `queue.expired`: these tokens stopped being live (waiting or active).
package struct ExpiredEvent: Codable, Sendable, Equatable {
    package var tokens: [ExpiredTokenRef]

    package init(tokens: [ExpiredTokenRef]) {
        self.tokens = tokens
    }
}

/// Why a token expired.
package enum ExpiryReason: String, Codable, Sendable, Equatable {
    /// Its active time ran out.
    case lapsed
    /// It waited with nobody asking about it for `QUEUE_IDLE_SECONDS`.
    case idle
    /// `queue.expire`: its owner left the line, or paid.
    case revoked
}

/// One token named by a `queue.expired` event.
package struct ExpiredTokenRef: Codable, Sendable, Equatable {
    package var userId: Int64
    package var seq: Int64
    package var reason: ExpiryReason

    package init(userId: Int64, seq: Int64, reason: ExpiryReason) {
        self.userId = userId
        self.seq = seq
        self.reason = reason
    }
}

/// The wire form of a queue token: `q1.<userId>.<seq>.<issuedAtMs>.<nonce>.<mac>`, with the 16-byte
/// random nonce and the 32-byte HMAC-SHA256 in unpadded base64url.
///
/// Parsing checks only the form. Only the queue holds the key that checks the MAC; a gateway reads
/// the claims to find `seq` in its view built from the queue's events, and recognises the genuine
/// token by the `digest(of:)` that `queue.admitted` carried for it.
package struct QueueToken: Sendable, Equatable {
    package static let prefix = "q1"
    package static let nonceBytes = 16
    package static let macBytes = 32
    /// Far above any real token (about 110 characters); longer input is refused before parsing.
    package static let maxLength = 256

    package var userId: Int64
    package var seq: Int64
    package var issuedAtMs: Int64
    package var nonce: Data
    package var mac: Data

    package init(userId: Int64, seq: Int64, issuedAtMs: Int64, nonce: Data, mac: Data) {
        self.userId = userId
        self.seq = seq
        self.issuedAtMs = issuedAtMs
        self.nonce = nonce
        self.mac = mac
    }

    /// Reads a token's parts, or nil when it does not have the form.
    package init?(parsing text: String) {
        guard text.utf8.count <= Self.maxLength else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == Self.prefix,
              let userId = Self.decimal(parts[1]), userId > 0,
              let seq = Self.decimal(parts[2]), seq > 0,
              let issuedAtMs = Self.decimal(parts[3]),
              let nonce = Self.base64URLDecoded(parts[4]), nonce.count == Self.nonceBytes,
              let mac = Self.base64URLDecoded(parts[5]), mac.count == Self.macBytes
        else { return nil }
        self.init(userId: userId, seq: seq, issuedAtMs: issuedAtMs, nonce: nonce, mac: mac)
    }

    /// The text the MAC covers: everything before the last dot.
    package var signedText: String {
        "\(Self.prefix).\(userId).\(seq).\(issuedAtMs).\(Self.base64URLEncoded(nonce))"
    }

    /// The token as it travels.
    package var text: String { "\(signedText).\(Self.base64URLEncoded(mac))" }

    /// SHA-256 of a token's wire text, in unpadded base64url: what `queue.admitted` names a token by.
    /// There is one text per token (the MAC is deterministic, numbers have one spelling), so equal
    /// digests mean the very token the queue issued.
    package static func digest(of text: String) -> String {
        base64URLEncoded(Data(SHA256.hash(data: Data(text.utf8))))
    }

    // Digits only, at most 18, no leading zero: one spelling per number, so one text per token,
    // and nothing Int64 could overflow on.
    private static func decimal(_ part: Substring) -> Int64? {
        guard (1...18).contains(part.utf8.count), part.utf8.allSatisfy({ (48...57).contains($0) }),
              let value = Int64(part), String(value) == part
        else { return nil }
        return value
    }

    // Byte by byte: `replacingOccurrences` goes through NSString, and every gated request decodes two
    // parts (a sixth of the gateway's CPU serving seat maps went there; docs/benchmarks.md).
    static func base64URLEncoded(_ data: Data) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count * 4 / 3 + 3)
        for byte in data.base64EncodedData() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: "-"))
            case UInt8(ascii: "/"): bytes.append(UInt8(ascii: "_"))
            case UInt8(ascii: "="): continue
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of an unpadded base64url part, or nil for any other character, a cut group, or an
    /// encoding that is not the canonical one (so one token has one spelling).
    static func base64URLDecoded(_ part: Substring) -> Data? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(part.utf8.count + 3)
        for byte in part.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                bytes.append(byte)
            case UInt8(ascii: "-"): bytes.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): bytes.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        while bytes.count % 4 != 0 { bytes.append(UInt8(ascii: "=")) }
        guard let data = Data(base64Encoded: Data(bytes)), base64URLEncoded(data) == part else { return nil }
        return data
    }
}
