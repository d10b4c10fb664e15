import Foundation
import Messaging

// Catching up on missed events (DESIGN §3, the zguide's Clone pattern): a publisher that numbers
// its events durably (an outbox) answers `<service>.events` with what a subscriber missed.

/// `<service>.events`: events numbered after `after` (0 for all that are kept), at most `limit` (1…1000, default 500).
package struct EventsQuery: Codable, Sendable, Equatable {
    package let after: UInt64
    package let limit: Int?
    package init(after: UInt64, limit: Int? = nil) {
        self.after = after
        self.limit = limit
    }
}

/// One event kept in a publisher's outbox: its number, type and body (the JSON the live event carried).
package struct StoredEvent: Codable, Sendable, Equatable {
    package let seq: UInt64
    package let type: String
    /// The body as JSON text; decode it with `WireCodec.decoder`.
    package let body: String
    package init(seq: UInt64, type: String, body: String) {
        self.seq = seq
        self.type = type
        self.body = body
    }
}

/// `<service>.events`' reply: the outbox's epoch (its numbering), the events after the asked
/// number in order, and the newest number there is. `oldest` is the first number still kept:
/// anything before it was purged and cannot be recovered.
package struct EventPage: Codable, Sendable, Equatable {
    package let epoch: String
    package let events: [StoredEvent]
    package let lastSequence: UInt64
    package let oldest: UInt64
    package init(epoch: String, events: [StoredEvent], lastSequence: UInt64, oldest: UInt64) {
        self.epoch = epoch
        self.events = events
        self.lastSequence = lastSequence
        self.oldest = oldest
    }
}
