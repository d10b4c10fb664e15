import Contracts
import Foundation
import Logging
import Messaging
import Synchronization

/// Where a follower stands in one publisher's numbering: the last event it has handed on.
/// No epoch means nothing yet: it starts from the oldest event the publisher keeps.
package struct EventPosition: Sendable, Equatable, CustomStringConvertible {
    package var epoch: String?
    package var seq: UInt64

    package static let beginning = EventPosition(epoch: nil, seq: 0)

    package init(epoch: String?, seq: UInt64) {
        self.epoch = epoch
        self.seq = seq
    }

    package var description: String { epoch.map { "event \(seq) of epoch \($0)" } ?? "the beginning" }
}

/// One event as a follower hands it on, whichever way it came.
package struct FollowedEvent: Sendable, Equatable {
    /// Whether the subscription brought it, or a catch-up over request/reply.
    package enum Arrival: Sendable, Equatable { case live, caughtUp }

    package let epoch: String
    package let seq: UInt64
    package let type: String
    /// The body as JSON text with sorted keys: the same text whichever way the event came.
    package let body: String
    package let arrival: Arrival

    package init(epoch: String, seq: UInt64, type: String, body: String, arrival: Arrival) {
        self.epoch = epoch
        self.seq = seq
        self.type = type
        self.body = body
        self.arrival = arrival
    }

    /// One spelling for one body, keys sorted: a live frame and an outbox row may write the same JSON differently.
    package static func canonical(_ object: Any?) -> String? {
        guard let object,
              let text = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        else { return nil }
        return String(decoding: text, as: UTF8.self)
    }

    /// The canonical spelling of JSON text (the text itself, should it not parse).
    package static func canonical(json: String) -> String {
        canonical(try? JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed)) ?? json
    }
}

/// Why a follower cannot go on. Each is a reason to stop rather than to guess: going on would
/// lose events, or hand on different events under numbers already used.
package enum FollowError: Error, Equatable, CustomStringConvertible {
    /// The publisher numbers in another epoch than the one recorded: its database is a new one, and
    /// its numbering began again.
    case epochChanged(recorded: String, publisher: String)
    /// These events are no longer kept by the publisher (older than its outbox's retention).
    case lost(ClosedRange<UInt64>, epoch: String)
    /// The publisher's newest event comes before the recorded position, in the same epoch: its
    /// database was restored from an older copy, and it will give the numbers after it to other events.
    case behind(position: UInt64, publisherLast: UInt64, epoch: String)
    /// The publisher did not answer for this long.
    case unreachable(endpoint: String, waited: Duration, lastError: String)
    /// The publisher refused the catch-up itself (`unknown_method`: it keeps no outbox).
    case refused(RemoteError)

    package var description: String {
        switch self {
        case .epochChanged(let recorded, let publisher):
            "the publisher now numbers its events in epoch \(publisher), not \(recorded): its database is new and its numbering began again"
        case .lost(let range, let epoch):
            "events \(range.lowerBound)…\(range.upperBound) of epoch \(epoch) are no longer kept by the publisher (past its outbox's retention)"
        case .behind(let position, let last, let epoch):
            "the publisher's newest event is \(last) of epoch \(epoch), before event \(position) already followed: was its database restored from an older copy?"
        case .unreachable(let endpoint, let waited, let lastError):
            "no answer from \(endpoint) for \(String(format: "%.1f", waited / .seconds(1))) s: \(lastError)"
        case .refused(let error):
            "the publisher refused the catch-up: \(error)"
        }
    }
}

/// Where a follower stands, and what each arrival means there: the pure part of `OutboxFollower`.
package struct EventCursor: Sendable, Equatable {
    package private(set) var position: EventPosition

    /// What a live event means at the position.
    package enum Verdict: Sendable, Equatable {
        /// The event right after the position: hand it on.
        case next
        /// At or before the position: handed on already.
        case seen
        /// Events before it were missed (or nothing has been placed yet): catch up first.
        case ahead
        /// Another numbering: catch up, whose answer says whether the publisher's database changed.
        case otherEpoch
    }

    package init(position: EventPosition) {
        self.position = position
    }

    package func judge(epoch: String, seq: UInt64) -> Verdict {
        guard let mine = position.epoch else { return .ahead }
        guard epoch == mine else { return .otherEpoch }
        if seq <= position.seq { return .seen }
        return seq == position.seq + 1 ? .next : .ahead
    }

    /// The events of a catch-up page still to hand on, in order, once the page is checked against
    /// the position: the same numbering, nothing purged, nothing missing between them.
    package mutating func unseen(in page: EventPage) throws(FollowError) -> [StoredEvent] {
        guard let epoch = position.epoch else {
            // A first start takes the publisher's numbering from the oldest event it still keeps.
            position = EventPosition(epoch: page.epoch, seq: min(page.oldest, page.lastSequence + 1) - 1)
            return try unseen(in: page)
        }
        guard page.epoch == epoch else { throw .epochChanged(recorded: epoch, publisher: page.epoch) }
        guard page.lastSequence >= position.seq else { throw .behind(position: position.seq, publisherLast: page.lastSequence, epoch: epoch) }
        var expected = position.seq + 1
        var fresh: [StoredEvent] = []
        for event in page.events where event.seq > position.seq {
            guard event.seq == expected else { throw .lost(expected...(event.seq - 1), epoch: epoch) }
            fresh.append(event)
            expected += 1
        }
        if fresh.isEmpty && page.lastSequence > position.seq { throw .lost(expected...page.lastSequence, epoch: epoch) }
        return fresh
    }

    /// Records that the next event has been handed on.
    package mutating func advance(to seq: UInt64) {
        precondition(seq == position.seq + 1, "events are handed on in order, one at a time")
        position.seq = seq
    }
}

/// Follows a publisher that numbers its events in an outbox and hands on every event exactly once,
/// in order (DESIGN §3, the zguide's Clone pattern). It subscribes first, so nothing published from
/// then on can slip between subscribing and asking; then it catches up by pages over request/reply
/// (`<service>.events`) from its position; then it hands on live events as they come, dropping those
/// it has already, and catches up again whenever the subscription shows a gap (numbers skipped, or
/// a heartbeat ahead of the last event) or stays silent for a while. A changed epoch stops it with
/// `FollowError.epochChanged` rather than mixing two numberings. Every call has a deadline; one the
/// publisher does not answer (it is down, or restarting) is tried again with backoff, for up to
/// `Settings.patience`.
package final class OutboxFollower: Sendable {
    /// How patient a follower is.
    package struct Settings: Sendable {
        /// Events asked for per catch-up call.
        package var pageSize = 500
        /// The deadline of one catch-up call.
        package var callTimeout: Duration = .seconds(2)
        /// The wait after a failed catch-up call, doubling from the lower bound to the upper.
        package var backoff: ClosedRange<Duration> = .milliseconds(50) ... .seconds(2)
        /// How long the publisher may go without answering before the follower gives up.
        package var patience: Duration = .seconds(60)
        /// With nothing heard for this long the follower asks anyway, so that a subscription that
        /// stalled without showing a gap cannot hide events for longer.
        package var idleCheck: Duration = .seconds(5)

        package init() {}
    }

    /// What a follower has done so far.
    package struct Statistics: Sendable, Equatable {
        /// Events handed on as the subscription brought them.
        package var live = 0
        /// Events handed on from catch-ups.
        package var caughtUp = 0
        /// Live events dropped because they had been handed on already (caught up first, or
        /// published twice by a relay that restarted).
        package var alreadyHad = 0
        /// Catch-ups that found events the subscription had not brought.
        package var catchUps = 0
        /// Catch-up calls that failed and were tried again.
        package var retries = 0
    }

    private enum Input: Sendable {
        case live(SubscriptionEvent)
        case idle
    }

    private let service: ServiceName
    private let eventsEndpoint: String
    private let client: RPCClient
    private let start: EventPosition
    private let settings: Settings
    private let logger: Logger
    private let counts = Mutex(Statistics())
    /// Refusals that say nothing about the request: try again.
    private static let transient: Set<String> = [RemoteError.busy.code, RemoteError.shuttingDown.code, RemoteError.internalError.code]

    /// - Parameters:
    ///   - service: the publisher; its `<service>.events` is asked through `client`.
    ///   - eventsEndpoint: where it publishes.
    ///   - position: the last event already handed on (`.beginning` for none).
    package init(service: ServiceName, eventsEndpoint: String, client: RPCClient, from position: EventPosition,
                 settings: Settings = Settings(), logger: Logger) {
        self.service = service
        self.eventsEndpoint = eventsEndpoint
        self.client = client
        self.start = position
        self.settings = settings
        self.logger = logger
    }

    package var statistics: Statistics { counts.withLock { $0 } }

    /// Hands on every event after the position up to the publisher's newest, and returns the position reached.
    @discardableResult
    package func catchUp(_ deliver: (FollowedEvent) async throws -> Void) async throws -> EventPosition {
        var cursor = EventCursor(position: start)
        try await catchUp(&cursor, deliver)
        return cursor.position
    }

    /// Hands on every event after the position, then each new one as it is published, until the
    /// task is cancelled (it then returns the position reached) or it cannot go on (`FollowError`).
    @discardableResult
    package func follow(_ deliver: (FollowedEvent) async throws -> Void) async throws -> EventPosition {
        var cursor = EventCursor(position: start)
        // Seeded with the position, the subscription's own check also reports a tail lost before
        // it connected (a heartbeat ahead of the position).
        let tracker = start.epoch.map { SequenceTracker(resumeAfter: [service.rawValue: ($0, start.seq)]) } ?? SequenceTracker()
        let subscriber = EventSubscriber(endpoints: [eventsEndpoint], logger: logger, tracker: tracker)
        try subscriber.start()
        let (inputs, feed) = AsyncStream.makeStream(of: Input.self)
        let forwarding = Task {
            for await item in subscriber.events { feed.yield(.live(item)) }
        }
        let ticking = Task { [idle = settings.idleCheck] in
            while !Task.isCancelled {
                try? await Task.sleep(for: idle)
                feed.yield(.idle)
            }
        }
        var failure: (any Error)?
        do {
            try await catchUp(&cursor, deliver)
            try await follow(inputs, &cursor, deliver)
        } catch is CancellationError {
            // Asked to stop: everything handed on so far stands.
        } catch {
            failure = error
        }
        forwarding.cancel()
        ticking.cancel()
        feed.finish()
        await subscriber.stop()
        if let failure { throw failure }
        return cursor.position
    }

    // MARK: Inside

    /// The live part; ends when the task is cancelled (the stream then ends).
    private func follow(_ inputs: AsyncStream<Input>, _ cursor: inout EventCursor, _ deliver: (FollowedEvent) async throws -> Void) async throws {
        var heard = false
        for await input in inputs {
            switch input {
            case .idle:
                if !heard { try await catchUp(&cursor, deliver) }
                heard = false
            case .live(.gap(let gap)):
                heard = true
                logger.debug("events missed live; catching up", metadata: ["events.missing": .string(gap.missing.map { "\($0)" } ?? "unknown")])
                try await catchUp(&cursor, deliver)
            case .live(.event(let event)):
                heard = true
                try await take(event, &cursor, deliver)
            }
        }
    }

    private func take(_ event: ReceivedEvent, _ cursor: inout EventCursor, _ deliver: (FollowedEvent) async throws -> Void) async throws {
        let head = event.head
        var verdict = cursor.judge(epoch: head.epoch, seq: head.seq)
        if verdict == .ahead || verdict == .otherEpoch {
            // What the publisher answers decides: it has the missing events, or a new numbering.
            try await catchUp(&cursor, deliver)
            verdict = cursor.judge(epoch: head.epoch, seq: head.seq)
        }
        switch verdict {
        case .next:
            guard let body = FollowedEvent.canonical(WireCodec.rawBody(of: event.frame)) else {
                // A live copy without a readable body: the stored one is fetched instead.
                try await catchUp(&cursor, deliver)
                return
            }
            try await deliver(FollowedEvent(epoch: head.epoch, seq: head.seq, type: head.type, body: body, arrival: .live))
            cursor.advance(to: head.seq)
            counts.withLock { $0.live += 1 }
        case .seen:
            counts.withLock { $0.alreadyHad += 1 }
        case .ahead, .otherEpoch:
            // The publisher's own answer does not know it: not this publisher's numbering.
            logger.warning("event of an unknown numbering dropped", metadata: ["events.epoch": .string(head.epoch),
                                                                                "events.seq": .stringConvertible(head.seq)])
        }
    }

    /// Pages through `<service>.events` from the position until the publisher's newest event.
    private func catchUp(_ cursor: inout EventCursor, _ deliver: (FollowedEvent) async throws -> Void) async throws {
        let from = cursor.position.seq
        var delivered = 0
        while true {
            let page = try await page(after: cursor.position.seq)
            let fresh = try cursor.unseen(in: page)
            for event in fresh {
                let body = FollowedEvent.canonical(json: event.body)
                try await deliver(FollowedEvent(epoch: page.epoch, seq: event.seq, type: event.type, body: body, arrival: .caughtUp))
                cursor.advance(to: event.seq)
                delivered += 1
                counts.withLock { $0.caughtUp += 1 }
            }
            if cursor.position.seq >= page.lastSequence { break }
        }
        guard delivered > 0 else { return }
        counts.withLock { $0.catchUps += 1 }
        logger.info("caught up over \(service.events.name)", metadata: ["events.from": .stringConvertible(from + 1),
                                                                       "events.through": .stringConvertible(cursor.position.seq)])
    }

    /// One page, asked until answered or until the publisher has been silent for `patience`.
    private func page(after seq: UInt64) async throws -> EventPage {
        let started = ContinuousClock.now
        var wait = settings.backoff.lowerBound
        while true {
            do {
                // No call outlasts the patience left, so giving up is on time too.
                let left = settings.patience - (ContinuousClock.now - started)
                let timeout = max(.milliseconds(100), min(settings.callTimeout, left))
                return try await client.call(service.events, EventsQuery(after: seq, limit: settings.pageSize), timeout: timeout)
            } catch let refusal as RemoteError where !Self.transient.contains(refusal.code) {
                throw FollowError.refused(refusal)
            } catch MessagingError.malformedReply(_, _) {
                // An answer that does not decode will not decode the next time either: not an outage.
                throw FollowError.refused(RemoteError("malformed_reply", "\(service.rawValue).events answered with a page that does not decode"))
            } catch let error where error is CancellationError || (error as? MessagingError) == .closed {
                throw error
            } catch {
                let waited = ContinuousClock.now - started
                guard waited < settings.patience else {
                    throw FollowError.unreachable(endpoint: client.endpoint, waited: waited, lastError: "\(error)")
                }
                counts.withLock { $0.retries += 1 }
                logger.notice("events catch-up will be tried again", metadata: ["events.error": .string("\(error)")])
                try await Task.sleep(for: min(wait, settings.patience - waited))
                wait = min(wait * 2, settings.backoff.upperBound)
            }
        }
    }
}
