import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// One event as a subscriber received it.
package struct ReceivedEvent: Sendable {
    package let head: EventHead
    package let frame: Data

    /// Decodes the event's body.
    package func body<Body: Decodable>(as type: Body.Type) throws -> Body {
        try WireCodec.decodeBody(type, from: frame)
    }
}

/// Events a subscriber did not get. `missing` is the range of numbers lost in `epoch`; when the
/// publisher restarted with a new numbering, `epochChanged` is true and the loss is unknown.
package struct EventGap: Sendable, Equatable {
    package let source: String
    package let epoch: String
    package let missing: ClosedRange<UInt64>?
    package let epochChanged: Bool
}

/// What a subscriber's stream yields: events in the order they arrived, and gaps where it noticed them.
package enum SubscriptionEvent: Sendable {
    case event(ReceivedEvent)
    case gap(EventGap)
}

/// The numbering a subscriber has seen for one publisher, and the gap check. Pure, for testing.
package struct SequenceTracker: Sendable {
    private var positions: [String: (epoch: String, seq: UInt64)] = [:]

    /// - Parameter resumeAfter: known positions per source, e.g. restored after a restart.
    package init(resumeAfter: [String: (epoch: String, seq: UInt64)] = [:]) {
        positions = resumeAfter
    }

    /// Records `head`; returns the gap it reveals, if any, and whether it is news (false for
    /// heartbeats and repeats, which are not delivered as events).
    package mutating func observe(_ head: EventHead) -> (gap: EventGap?, isNew: Bool) {
        let isHeartbeat = head.type == EventCodec.heartbeatType
        guard let known = positions[head.source] else {
            // First sight, with nothing to compare against: a late joiner reports no gap.
            positions[head.source] = (head.epoch, head.seq)
            return (nil, !isHeartbeat)
        }
        if known.epoch != head.epoch {
            // The publisher began a new numbering: whatever of it came before this message was missed.
            positions[head.source] = (head.epoch, head.seq)
            let lastMissed = isHeartbeat ? head.seq : max(head.seq, 1) - 1
            let missing = lastMissed >= 1 ? 1...lastMissed : nil
            return (EventGap(source: head.source, epoch: head.epoch, missing: missing, epochChanged: true), !isHeartbeat)
        }
        // A heartbeat carries the latest number already sent; an event carries its own.
        guard known.seq < UInt64.max else { return (nil, false) }
        let expected = known.seq + 1
        let newest = head.seq
        if isHeartbeat {
            guard newest > known.seq else { return (nil, false) }
            positions[head.source] = (head.epoch, newest)
            return (EventGap(source: head.source, epoch: head.epoch, missing: expected...newest, epochChanged: false), false)
        }
        guard newest >= expected else { return (nil, false) }
        positions[head.source] = (head.epoch, newest)
        let gap = newest > expected
            ? EventGap(source: head.source, epoch: head.epoch, missing: expected...(newest - 1), epochChanged: false)
            : nil
        return (gap, true)
    }

    package func position(of source: String) -> (epoch: String, seq: UInt64)? { positions[source] }
}

/// A SUB socket connected to one or more publishers, yielding events and gaps as an `AsyncStream`.
package final class EventSubscriber: SocketService, SocketLoopDriver {
    package let endpoints: [String]
    package let topics: [String]
    package let events: AsyncStream<SubscriptionEvent>
    private let continuation: AsyncStream<SubscriptionEvent>.Continuation
    private let logger: Logger
    private let tracker: Mutex<SequenceTracker>
    private let loop = Mutex<SocketLoop?>(nil)
    private let heard = Mutex<ContinuousClock.Instant?>(nil)

    /// When a readable message (an event or a heartbeat) last arrived; nil before the first. A
    /// subscriber that keeps a view from the events trusts it only while its publisher is heard.
    package var lastHeard: ContinuousClock.Instant? { heard.withLock { $0 } }

    /// - Parameter topics: prefixes of the event types wanted; `[""]` means all.
    package init(endpoints: [String], topics: [String] = [""], logger: Logger, tracker: SequenceTracker = SequenceTracker()) {
        self.endpoints = endpoints
        self.topics = topics
        self.logger = logger
        self.tracker = Mutex(tracker)
        // The consumer is expected to keep up; gaps are found before this buffer, so none hide in it.
        (events, continuation) = AsyncStream.makeStream(of: SubscriptionEvent.self, bufferingPolicy: .unbounded)
    }

    package func start() throws(ZMQError) {
        let socket = try ZMQSocket(.subscriber)
        try socket.applyStandardOptions()
        try socket.set(.reconnectInterval(milliseconds: 100))
        // Numbers run per publisher, across all its types: the socket takes everything so that a
        // filtered-out event is not mistaken for a lost one; `topics` is applied after the gap check.
        try socket.set(.subscribe(prefix: []))
        for endpoint in endpoints { try socket.connect(endpoint) }
        let started = try SocketLoop(name: "subscriber", socket: socket, driver: self)
        loop.withLock { $0 = started }
    }

    /// Stops receiving and finishes the stream.
    package func stop() async {
        await loop.withLock { $0 }?.stop()
        continuation.finish()
    }

    package func stopNow() {
        loop.withLock { $0 }?.requestStop()
    }

    // MARK: SocketLoopDriver (on the socket's thread)

    func received(_ frames: [Data]) {
        guard frames.count == 2, let head = try? EventCodec.decodeHead(frames[1]) else {
            logger.warning("unreadable event dropped")
            return
        }
        let (gap, isNew) = tracker.withLock { $0.observe(head) }
        heard.withLock { $0 = .now }
        if let gap {
            logger.notice("events missed", metadata: ["events.source": .string(gap.source),
                                                      "events.missing": .string(gap.missing.map { "\($0)" } ?? "unknown")])
            continuation.yield(.gap(gap))
        }
        if isNew && topics.contains(where: { head.type.hasPrefix($0) }) {
            continuation.yield(.event(ReceivedEvent(head: head, frame: frames[1])))
        }
    }

    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration? { nil }

    func stopped(_ socket: ZMQSocket) {}
}
