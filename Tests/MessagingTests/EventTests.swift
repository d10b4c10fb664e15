import Foundation
import Logging
import Testing
import TestSupport
@testable import Messaging

@Suite("Event numbering and gap detection")
struct SequenceTrackerTests {
    func head(_ seq: UInt64, epoch: String = "e", type: String = "seat.held") -> EventHead {
        EventHead(v: 1, source: "concert", epoch: epoch, seq: seq, type: type)
    }

    @Test("consecutive numbers pass without a gap; repeats are not news")
    func inOrder() {
        var tracker = SequenceTracker()
        for seq in 1...5 as ClosedRange<UInt64> {
            let (gap, isNew) = tracker.observe(head(seq))
            #expect(gap == nil && isNew)
        }
        let repeated = tracker.observe(head(4))
        #expect(repeated.gap == nil && !repeated.isNew)
    }

    @Test("a skipped number is reported as the missing range")
    func skipped() {
        var tracker = SequenceTracker()
        _ = tracker.observe(head(1))
        let (gap, isNew) = tracker.observe(head(5))
        #expect(gap == EventGap(source: "concert", epoch: "e", missing: 2...4, epochChanged: false))
        #expect(isNew)
    }

    @Test("a heartbeat ahead of the last event reveals lost tail events")
    func heartbeatRevealsTail() {
        var tracker = SequenceTracker()
        _ = tracker.observe(head(3))
        #expect(tracker.observe(head(3, type: EventCodec.heartbeatType)) == (gap: nil, isNew: false))
        let (gap, isNew) = tracker.observe(head(6, type: EventCodec.heartbeatType))
        #expect(gap?.missing == 4...6 && !isNew)
    }

    @Test("a late joiner starts where it joins; a known position is resumed from")
    func lateJoinAndResume() {
        var fresh = SequenceTracker()
        #expect(fresh.observe(head(40)).gap == nil)
        var resumed = SequenceTracker(resumeAfter: ["concert": (epoch: "e", seq: 10)])
        #expect(resumed.observe(head(40)).gap?.missing == 11...39)
    }

    @Test("a new epoch is a restart: reported, and what came before it in the new numbering is missing")
    func epochChange() {
        var tracker = SequenceTracker()
        _ = tracker.observe(head(9))
        #expect(tracker.observe(head(1, epoch: "f")).gap == EventGap(source: "concert", epoch: "f", missing: nil, epochChanged: true))
        #expect(tracker.observe(head(4, epoch: "g")).gap?.missing == 1...3)
        #expect(tracker.observe(head(0, epoch: "h")).gap?.missing == nil)
        #expect(tracker.observe(head(UInt64.max, epoch: "h")).isNew)
        #expect(tracker.observe(head(UInt64.max, epoch: "h")).gap == nil)
    }
}

@Suite("Publisher and subscriber over real sockets", .timeLimit(.minutes(1)))
struct PubSubTests {
    static let logger: Logger = {
        var logger = Logger(label: "events-test")
        logger.logLevel = .critical
        return logger
    }()

    struct Change: Codable, Equatable, Sendable { let n: Int }

    /// Publishes warm-up events until the subscriber sees one: PUB/SUB drops what is sent before the
    /// subscription reaches the publisher (the slow-joiner effect).
    func connect(_ publisher: EventPublisher, _ stream: inout AsyncStream<SubscriptionEvent>.AsyncIterator) async throws {
        let warmer = Task {
            while !Task.isCancelled {
                try publisher.publish("warmup", Change(n: -1))
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { warmer.cancel() }
        while let next = await stream.next() {
            if case .event(let event) = next, event.head.type == "warmup" { break }
        }
        warmer.cancel()
        _ = await warmer.result
    }

    @Test("events arrive in order with their numbers and bodies", arguments: ["tcp", "ipc"])
    func inOrder(transport: String) async throws {
        let endpoint = transport == "tcp" ? try freeTCPEndpoint() : try TemporaryDirectory("ev").ipc("e")
        let publisher = EventPublisher(source: "concert", endpoint: endpoint, logger: Self.logger)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [endpoint], topics: ["seat.", "warmup"], logger: Self.logger)
        try subscriber.start()
        var stream = subscriber.events.makeAsyncIterator()
        try await connect(publisher, &stream)
        let first = publisher.lastSequence + 1
        for n in 0..<200 { try publisher.publish("seat.held", Change(n: n)) }
        try publisher.publish("other.topic", Change(n: 999))
        var received: [Int] = []
        var numbers: [UInt64] = []
        while received.count < 200, let next = await stream.next() {
            guard case .event(let event) = next else {
                Issue.record("unexpected \(next)")
                continue
            }
            guard event.head.type == "seat.held" else { continue }
            received.append(try event.body(as: Change.self).n)
            numbers.append(event.head.seq)
        }
        #expect(received == Array(0..<200))
        #expect(numbers == Array(first..<(first + 200)))
        await subscriber.stop()
        await publisher.stop()
    }

    @Test("a gap in the numbering is surfaced to the subscriber before the event after it")
    func gapDetected() async throws {
        let endpoint = try freeTCPEndpoint()
        let publisher = EventPublisher(source: "reservation", endpoint: endpoint, logger: Self.logger, epoch: "durable", lastSequence: 0)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [endpoint], logger: Self.logger)
        try subscriber.start()
        var stream = subscriber.events.makeAsyncIterator()
        try await connect(publisher, &stream)
        let last = publisher.lastSequence
        // An outbox relay numbers events itself; number last+2 never goes out.
        publisher.publish(sequence: last + 1, type: "reservation.reserved", body: Data(#"{"n":1}"#.utf8))
        publisher.publish(sequence: last + 3, type: "reservation.reserved", body: Data(#"{"n":3}"#.utf8))
        var seen: [String] = []
        while seen.count < 3, let next = await stream.next() {
            switch next {
            case .event(let event) where event.head.type == "reservation.reserved": seen.append("event \(event.head.seq - last)")
            case .event: continue
            case .gap(let gap): seen.append("gap \(gap.missing.map { "\($0.lowerBound - last)...\($0.upperBound - last)" } ?? "?")")
            }
        }
        #expect(seen == ["event 1", "gap 2...2", "event 3"])
        await subscriber.stop()
        await publisher.stop()
    }

    @Test("a heartbeat reveals events lost at the tail, when nothing follows them")
    func tailLoss() async throws {
        let endpoint = try freeTCPEndpoint()
        // The publisher has sent 1...5 of epoch "d"; this subscriber last saw 2 of it.
        let publisher = EventPublisher(source: "queue", endpoint: endpoint, logger: Self.logger, epoch: "d",
                                       lastSequence: 5, heartbeatInterval: .milliseconds(50))
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [endpoint], logger: Self.logger,
                                         tracker: SequenceTracker(resumeAfter: ["queue": (epoch: "d", seq: 2)]))
        try subscriber.start()
        var stream = subscriber.events.makeAsyncIterator()
        let first = await stream.next()
        guard case .gap(let gap)? = first else {
            Issue.record("expected a gap, got \(String(describing: first))")
            return
        }
        #expect(gap == EventGap(source: "queue", epoch: "d", missing: 3...5, epochChanged: false))
        await subscriber.stop()
        await publisher.stop()
    }

    @Test("events of types a subscriber filters out are not mistaken for lost ones")
    func filteredTypesAreNotGaps() async throws {
        let endpoint = try freeTCPEndpoint()
        let publisher = EventPublisher(source: "queue", endpoint: endpoint, logger: Self.logger)
        try publisher.start()
        let subscriber = EventSubscriber(endpoints: [endpoint], topics: ["token.", "warmup"], logger: Self.logger)
        try subscriber.start()
        var stream = subscriber.events.makeAsyncIterator()
        try await connect(publisher, &stream)
        try publisher.publish("admission.progress", Change(n: 1))
        try publisher.publish("token.expired", Change(n: 2))
        var next = await stream.next()
        while case .event(let event)? = next, event.head.type == "warmup" { next = await stream.next() }
        guard case .event(let event)? = next else {
            Issue.record("expected the token event, got \(String(describing: next))")
            return
        }
        #expect(event.head.type == "token.expired")
        await subscriber.stop()
        await publisher.stop()
    }
}
