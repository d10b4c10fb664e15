import Contracts
import Foundation
import Logging
import Messaging
import ServiceLifecycle
import Testing
import TestSupport
@testable import GatewayService

/// The gateway's view of active queue tokens, fed by a real `EventPublisher` over a real socket
/// standing in for the queue (the events are the queue's own types).
@Suite("The gateway's view of admitted tokens, from the queue's events")
struct AdmissionViewTests {
    static let logger = Logger(label: "admission-view-test")

    /// A publisher in the queue's place and a view following it, run as the gateway runs it.
    final class Fixture: Sendable {
        let folder: TemporaryDirectory
        let publisher: EventPublisher
        let view: AdmissionView
        let running: Task<Void, any Error>

        init(heartbeat: Duration = .milliseconds(100), staleAfter: Duration = .milliseconds(750)) async throws {
            folder = try TemporaryDirectory("view")
            let endpoint = folder.ipc("queue.events")
            publisher = EventPublisher(source: "queue", endpoint: endpoint, logger: AdmissionViewTests.logger,
                                       heartbeatInterval: heartbeat)
            try publisher.start()
            view = AdmissionView(eventsEndpoint: endpoint, logger: AdmissionViewTests.logger, staleAfter: staleAfter)
            running = Task { [view] in try await view.run() }
        }

        func admit(_ tokens: [AdmittedToken]) throws {
            try publisher.publish(QueueAPI.admittedEvent, AdmittedEvent(throughSeq: tokens.map(\.seq).max() ?? 0, tokens: tokens))
        }

        func expire(_ seqs: [(userId: Int64, seq: Int64)]) throws {
            try publisher.publish(QueueAPI.expiredEvent, ExpiredEvent(tokens: seqs.map { ExpiredTokenRef(userId: $0.userId, seq: $0.seq, reason: .revoked) }))
        }

        func verdict(_ token: AdmittedToken, by userId: Int64? = nil, digest: String? = nil) -> AdmissionView.Verdict {
            view.verdict(seq: token.seq, userId: userId ?? token.userId, digest: digest ?? token.digest, now: Date())
        }

        /// Publishes an admission until the view has it: PUB/SUB drops what is sent before the
        /// subscription is joined, which the view then sees as tokens it must ask about.
        func warmUp(_ token: AdmittedToken) async throws {
            let took = await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
                try? admit([token])
                try? await Task.sleep(for: .milliseconds(20))
                return verdict(token) == .admit
            }
            #expect(took, "the view never took the warm-up admission")
        }

        func stop() async {
            running.cancel()
            _ = await running.result
            await publisher.stop()
            folder.remove()
        }
    }

    /// Runs `body` with a fixture, and stops it however `body` ends.
    static func withFixture(heartbeat: Duration = .milliseconds(100), staleAfter: Duration = .milliseconds(750),
                            _ body: (Fixture) async throws -> Void) async throws {
        let fixture = try await Fixture(heartbeat: heartbeat, staleAfter: staleAfter)
        do {
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    static func token(_ userId: Int64, _ seq: Int64) -> AdmittedToken {
        AdmittedToken(userId: userId, seq: seq, expiresAt: Date().addingTimeInterval(600),
                      digest: QueueToken.digest(of: "q1.\(userId).\(seq).token-text"))
    }

    @Test("an announced token passes for its owner with its exact text; another user, another text, or a time run out is refused")
    func announcedTokens() async throws {
        try await Self.withFixture { fixture in
            let alice = Self.token(1, 1)
            try await fixture.warmUp(alice)
            #expect(fixture.verdict(alice, by: 2) == .refuse)
            #expect(fixture.verdict(alice, digest: QueueToken.digest(of: "q1.1.1.forged")) == .refuse)

            // Past its time it is refused, whatever the view holds (asked at a moment just after its end).
            let later = alice.expiresAt.addingTimeInterval(0.001)
            #expect(fixture.view.verdict(seq: alice.seq, userId: alice.userId, digest: alice.digest, now: later) == .refuse)

            // Never announced (admitted before the view began): the queue is asked.
            #expect(fixture.verdict(Self.token(4, 99)).asks, "a token never announced is asked about")
        }
    }

    @Test("an expiry stops a token at once, and the queue's answer to an ask that crossed it is not learnt")
    func expiryWinsOverALateAnswer() async throws {
        try await Self.withFixture { fixture in
            try await fixture.warmUp(Self.token(1, 1))
            try fixture.expire([(1, 1)])
            #expect(await eventually(timeout: .seconds(2)) { fixture.verdict(Self.token(1, 1)) == .refuse })

            // An ask begins, the token expires while it is out, then the (stale) "active" answer comes back.
            let late = Self.token(5, 7)
            let generation = try #require(fixture.verdict(late).generation)
            try fixture.expire([(5, 7)])
            #expect(await eventually(timeout: .seconds(2)) { fixture.verdict(late) == .refuse })
            fixture.view.learn(seq: late.seq, userId: late.userId, digest: late.digest, expiresAt: late.expiresAt, generation: generation)
            #expect(fixture.verdict(late) == .refuse)

            // Without an expiry in between, the answer is learnt and the next check needs no ask.
            let fresh = Self.token(6, 8)
            let current = try #require(fixture.verdict(fresh).generation)
            fixture.view.learn(seq: fresh.seq, userId: fresh.userId, digest: fresh.digest, expiresAt: fresh.expiresAt, generation: current)
            #expect(fixture.verdict(fresh) == .admit)

            // The gateway's own "leave the line" stops it before any event.
            fixture.view.expired(seq: fresh.seq)
            #expect(fixture.verdict(fresh) == .refuse)
        }
    }

    @Test("a gap in the events empties the view: every token is asked about again, and an answer asked before is not learnt")
    func gapForgetsEverything() async throws {
        try await Self.withFixture { fixture in
            let alice = Self.token(1, 1)
            try await fixture.warmUp(alice)
            let before = try #require(fixture.verdict(Self.token(2, 2)).generation)
            // An event numbered past the next one: the one skipped may have revoked anything.
            let skipped = fixture.publisher.lastSequence + 2
            fixture.publisher.publish(sequence: skipped, type: QueueAPI.admittedEvent,
                                      body: try WireCodec.encoder.encode(AdmittedEvent(throughSeq: 3, tokens: [Self.token(3, 3)])))
            #expect(await eventually(timeout: .seconds(2)) { fixture.verdict(alice).asks },
                    "alice's token is asked about again after the gap")
            let bob = Self.token(2, 2)
            fixture.view.learn(seq: bob.seq, userId: bob.userId, digest: bob.digest, expiresAt: bob.expiresAt, generation: before)
            #expect(fixture.verdict(bob).asks, "an answer asked before the gap is not learnt")
            // What comes after the gap is complete again, so it is believed.
            let carol = Self.token(4, 4)
            try fixture.admit([carol])
            #expect(await eventually(timeout: .seconds(2)) { fixture.verdict(carol) == .admit })
        }
    }

    @Test("before the queue is heard at all, the queue is asked and its answer not learnt: an expiry sent before the subscription joined leaves no gap")
    func nothingLearntBeforeTheQueueIsHeard() async throws {
        let folder = try TemporaryDirectory("unheard")
        defer { folder.remove() }
        // Nobody publishes here, so the view never hears the queue.
        let view = AdmissionView(eventsEndpoint: folder.ipc("queue.events"), logger: Self.logger)
        let running = Task { try await view.run() }
        let token = Self.token(1, 1)
        let first = view.verdict(seq: token.seq, userId: token.userId, digest: token.digest, now: Date())
        #expect(first == .ask(generation: nil))
        view.learn(seq: token.seq, userId: token.userId, digest: token.digest, expiresAt: token.expiresAt, generation: first.generation)
        #expect(view.verdict(seq: token.seq, userId: token.userId, digest: token.digest, now: Date()) == .ask(generation: nil))
        running.cancel()
        _ = await running.result
    }

    @Test("a queue gone silent is not trusted after staleAfter: its tokens are asked about, not admitted from memory")
    func silenceIsNotTrusted() async throws {
        try await Self.withFixture(staleAfter: .milliseconds(400)) { fixture in
            let alice = Self.token(1, 1)
            try await fixture.warmUp(alice)
            await fixture.publisher.stop()
            #expect(await eventually(timeout: .seconds(3)) { fixture.verdict(alice).asks },
                    "a silent queue's view is asked about, not believed")
        }
    }
}

extension AdmissionView.Verdict {
    var asks: Bool {
        if case .ask = self { true } else { false }
    }
    /// The generation of an ask the view would learn the answer to.
    var generation: UInt64? {
        if case .ask(let generation) = self { generation } else { nil }
    }
}
