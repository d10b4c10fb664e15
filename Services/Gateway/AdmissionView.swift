import Contracts
import Foundation
import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// The gateway's own view of which queue tokens are active, built from the queue's `queue.admitted`
/// and `queue.expired` events (DESIGN §5), so that a gated request needs no call to the queue in
/// the common case.
///
/// It admits a token only when all of these hold: the queue announced that very token (the SHA-256
/// of its text, so a forged or altered one never matches) as admitted for this user, no expiry of it
/// has arrived since, its time has not run out, and the queue has been heard within `staleAfter`
/// with no event missed since the view began. Anything it cannot tell (a token admitted before this
/// gateway started, a gap in the events, a queue gone quiet) is asked of the queue, and an active
/// answer is learnt. So a just-started gateway is exactly as strict as the queue, and a revoked
/// token stops passing within a second: its `queue.expired` event removes it at once; a lost one
/// shows as a gap at the next heartbeat (every 250 ms) and empties the view; a queue that dies
/// before publishing one falls silent and the view stops being trusted after `staleAfter`.
final class AdmissionView: Service, Sendable {
    enum Verdict: Equatable {
        case admit
        case refuse
        /// The view cannot tell: ask the queue, and `learn` its answer with this generation. Nil
        /// before the queue has been heard at all: an expiry published before the subscription
        /// joined is lost without a gap to show it, so what is asked then is not learnt.
        case ask(generation: UInt64?)
    }

    private struct Entry {
        let userId: Int64
        let expiresAt: Date
        let digest: String
    }

    private struct State {
        /// Active tokens by sequence number.
        var active: [Int64: Entry] = [:]
        /// Sequence numbers whose expiry arrived in this period and the one before it. An answer
        /// to an ask that crossed one of them is not learnt; a period outlasts any ask (2.8 s).
        var expiredRecently: Set<Int64> = []
        var expiredBefore: Set<Int64> = []
        var periodStarted = ContinuousClock.now
        /// Bumped whenever the view forgets what it knew (a gap): answers asked before are not learnt.
        var generation: UInt64 = 0

        func hasExpired(_ seq: Int64) -> Bool {
            expiredRecently.contains(seq) || expiredBefore.contains(seq)
        }
    }

    static let period = Duration.seconds(5)
    let staleAfter: Duration
    private let subscriber: EventSubscriber
    private let state = Mutex(State())
    private let logger: Logger

    /// - Parameter eventsEndpoint: the queue's event endpoint (`QUEUE_EVENTS`).
    init(eventsEndpoint: String, logger: Logger, staleAfter: Duration = .milliseconds(750)) {
        subscriber = EventSubscriber(endpoints: [eventsEndpoint], topics: ["queue."], logger: logger)
        self.staleAfter = staleAfter
        self.logger = logger
    }

    /// What the view says of a token whose wire text has `digest` and whose claims name `seq`,
    /// presented by `userId` at `now`.
    func verdict(seq: Int64, userId: Int64, digest: String, now: Date) -> Verdict {
        let heard = subscriber.lastHeard
        return state.withLock { state in
            if state.hasExpired(seq) { return .refuse }
            let ask = Verdict.ask(generation: heard == nil ? nil : state.generation)
            guard let entry = state.active[seq] else { return ask }
            // Refusals are safe whatever the view's freshness: the queue would refuse alike.
            guard entry.userId == userId, entry.digest == digest, entry.expiresAt > now else { return .refuse }
            guard let heard, ContinuousClock.now - heard < staleAfter else { return ask }
            return .admit
        }
    }

    /// The queue's answer that the token is active until `expiresAt`, to an ask the view's
    /// `generation` prompted; ignored when an expiry or a gap came in between.
    func learn(seq: Int64, userId: Int64, digest: String, expiresAt: Date, generation: UInt64?) {
        state.withLock { state in
            guard let generation, state.generation == generation, !state.hasExpired(seq) else { return }
            state.active[seq] = Entry(userId: userId, expiresAt: expiresAt, digest: digest)
        }
    }

    /// This gateway expired the token itself (its owner left the line): refused from now on,
    /// whenever the queue's event arrives.
    func expired(seq: Int64) {
        state.withLock { Self.expire(seq, &$0) }
    }

    // MARK: Following the events

    func run() async throws {
        try subscriber.start()
        // Following ends at the stop's start: a cancelled wait on the stream returns at once.
        try? await cancelWhenGracefulShutdown {
            for await item in self.subscriber.events { self.apply(item) }
        }
        await subscriber.stop()
    }

    private func apply(_ item: SubscriptionEvent) {
        switch item {
        case .gap(let gap):
            logger.notice("queue events missed: token checks ask the queue until it announces them again",
                          metadata: ["events.missing": .string(gap.missing.map { "\($0)" } ?? "unknown")])
            state.withLock { state in
                state = State(generation: state.generation + 1)
            }
        case .event(let event):
            do {
                switch event.head.type {
                case QueueAPI.admittedEvent:
                    let admitted = try event.body(as: AdmittedEvent.self)
                    state.withLock { state in
                        for token in admitted.tokens where !state.hasExpired(token.seq) {
                            state.active[token.seq] = Entry(userId: token.userId, expiresAt: token.expiresAt, digest: token.digest)
                        }
                        Self.turnPeriod(&state)
                    }
                case QueueAPI.expiredEvent:
                    let expired = try event.body(as: ExpiredEvent.self)
                    state.withLock { state in
                        for token in expired.tokens { Self.expire(token.seq, &state) }
                        Self.turnPeriod(&state)
                    }
                default:
                    break
                }
            } catch {
                // An event the view cannot read may have revoked something: start again, strict.
                logger.error("unreadable queue event: token checks ask the queue", metadata: ["events.error": .string("\(error)")])
                state.withLock { state in
                    state = State(generation: state.generation + 1)
                }
            }
        }
    }

    private static func expire(_ seq: Int64, _ state: inout State) {
        state.active[seq] = nil
        state.expiredRecently.insert(seq)
    }

    /// Every `period`: the oldest expiries are forgotten, and so are tokens whose time ran out, so
    /// the view stays as small as the active set.
    private static func turnPeriod(_ state: inout State) {
        guard ContinuousClock.now - state.periodStarted >= period else { return }
        state.expiredBefore = state.expiredRecently
        state.expiredRecently = []
        state.periodStarted = .now
        let now = Date()
        state.active = state.active.filter { $0.value.expiresAt > now }
    }
}
