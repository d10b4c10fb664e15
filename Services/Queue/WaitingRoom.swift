import Contracts
import Foundation
import Messaging
import Metrics
import ServiceKit

/// An event the waiting room publishes once the transaction behind it has committed.
enum QueueEvent: Sendable, Equatable {
    case admitted(AdmittedEvent)
    case expired(ExpiredEvent)
}

/// The waiting room's rules over its database: issuing, looking up, validating and expiring tokens,
/// and the admission tick (DESIGN §5).
struct WaitingRoom: Sendable {
    let database: QueueDatabase
    let signer: TokenSigner
    let rules: QueueRules
    let clock: any WallClock
    /// Where events go after commit; the service hands them to its `EventPublisher`.
    let publish: @Sendable (QueueEvent) -> Void

    /// How often a client with an active or expired token is asked to come back: its answer changes
    /// only when the token's time runs out.
    static let settledPollMs = 5000

    init(database: QueueDatabase, signingKey: Data, rules: QueueRules, clock: any WallClock,
         publish: @escaping @Sendable (QueueEvent) -> Void) {
        self.database = database
        self.signer = TokenSigner(key: signingKey)
        self.rules = rules
        self.clock = clock
        self.publish = publish
    }

    /// `queue.issue`.
    func issue(_ request: IssueToken) async throws -> IssuedToken {
        try Self.checkUser(request.userId)
        var generator = SystemRandomNumberGenerator()
        let nonce = Data((0..<QueueToken.nonceBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
        let now = clock.now()
        let issued = try await database.issue(userId: request.userId, nonce: nonce, now: now, rules: rules)
        publishExpired(issued.expired)
        return IssuedToken(view: view(of: issued.token, admittedThrough: issued.admittedThrough, now: now),
                           created: issued.created)
    }

    /// `queue.status`.
    func status(_ request: TokenQuery) async throws -> TokenView {
        let claims = try verify(request.token, of: request.userId)
        let now = clock.now()
        guard let found = try await database.lookUp(seq: claims.seq, userId: request.userId, nonce: claims.nonce,
                                                    now: now, rules: rules)
        else { throw Self.inactive }
        publishExpired(found.expired.map { [$0] } ?? [])
        return view(of: found.token, admittedThrough: found.admittedThrough, now: now)
    }

    /// `queue.validate`: a read, so that the gated endpoints' check costs no write.
    func validate(_ request: TokenQuery) async throws -> TokenValidity {
        let claims = try verify(request.token, of: request.userId)
        guard let token = try await database.peek(seq: claims.seq, userId: request.userId, nonce: claims.nonce) else {
            throw Self.inactive
        }
        // A token whose time has run out is inactive at once, even before a tick records it.
        guard token.status == .active, let expiresAt = token.expiredAt, expiresAt > clock.now() else {
            return TokenValidity(active: false, expiresAt: nil)
        }
        return TokenValidity(active: true, expiresAt: expiresAt)
    }

    /// `queue.expire`.
    func expire(_ request: ExpireToken) async throws -> ExpireOutcome {
        try Self.checkUser(request.userId)
        let claims = try request.token.map { try verify($0, of: request.userId) }
        guard let expired = try await database.expire(userId: request.userId, token: claims.map { ($0.seq, $0.nonce) },
                                                      issuedBefore: request.issuedBefore, now: clock.now(), rules: rules)
        else { throw Self.inactive }
        publishExpired(expired)
        return ExpireOutcome(expired: expired.contains { $0.reason == .revoked })
    }

    /// One admission tick at `now` (the loop passes its clock's time; tests pass a manual one).
    @discardableResult
    func tick(now: Date, countWaiting: Bool = false) async throws -> TickOutcome {
        let outcome = try await database.tick(now: now, rules: rules, countWaiting: countWaiting)
        QueueMetrics.record(outcome)
        publishExpired(outcome.expired)
        if !outcome.admitted.isEmpty {
            publish(.admitted(AdmittedEvent(
                throughSeq: outcome.admittedThrough,
                tokens: outcome.admitted.map {
                    AdmittedToken(userId: $0.userId, seq: $0.seq, expiresAt: $0.expiredAt ?? now,
                                  digest: QueueToken.digest(of: signer.text(for: $0)))
                }
            )))
        }
        return outcome
    }

    // MARK: Views

    /// A token as its owner sees it at `now`.
    func view(of token: Token, admittedThrough: Int64, now: Date) -> TokenView {
        let text = signer.text(for: token)
        switch token.status {
        case .waiting:
            // Tokens behind "now serving" are admitted in order, so a waiting one is always ahead of it;
            // the floor of 1 only guards the arithmetic.
            let position = Int(clamping: max(1, token.seq - admittedThrough))
            let rate = max(1, rules.admitPerSecond)
            let wait = position / rate + (position % rate == 0 ? 0 : 1)
            return TokenView(token: text, status: .waiting, position: position, estimatedWaitSeconds: wait,
                             expiresAt: nil, pollAfterMs: waitingPollMs)
        case .active:
            let remainingMs = min(Double(Self.settledPollMs), max(0, (token.expiredAt ?? now).timeIntervalSince(now) * 1000))
            return TokenView(token: text, status: .active, position: 0, estimatedWaitSeconds: 0,
                             expiresAt: token.expiredAt, pollAfterMs: max(waitingPollMs, Int(remainingMs)))
        case .expired:
            return TokenView(token: text, status: .expired, position: 0, estimatedWaitSeconds: 0,
                             expiresAt: token.expiredAt, pollAfterMs: Self.settledPollMs)
        }
    }

    /// About a second while waiting (CONTRACT §3), but always well inside the idle limit, so a
    /// client that follows the pace never idles out.
    var waitingPollMs: Int {
        Int(max(100, min(1000, rules.idleSeconds * 1000 / 4)))
    }

    // MARK: Checks

    static let inactive = RemoteError("queue_token_inactive", "the queue token is not an active token of this user")

    static func checkUser(_ userId: Int64) throws {
        guard userId > 0 else { throw RemoteError("invalid_request", "userId must be a positive whole number") }
    }

    /// The token's claims, if it is genuine and claims this user. Forged, malformed and foreign
    /// tokens are refused alike, so a caller learns nothing from which it was.
    func verify(_ text: String, of userId: Int64) throws -> QueueToken {
        try Self.checkUser(userId)
        guard let claims = signer.verify(text), claims.userId == userId else { throw Self.inactive }
        return claims
    }

    /// Every expiry goes out through here (ticks, `queue.expire`, an issue or status that found its
    /// token lapsed), so it is counted here too.
    private func publishExpired(_ tokens: [ExpiredTokenRef]) {
        guard !tokens.isEmpty else { return }
        QueueMetrics.expired(tokens)
        publish(.expired(ExpiredEvent(tokens: tokens)))
    }
}

/// The waiting room's figures: its length, the tokens active, admissions (whose rate is the
/// admission rate) and expiries by reason.
enum QueueMetrics {
    private static let waiting = StackMetrics.gauge("queue_waiting_tokens")
    private static let active = StackMetrics.gauge("queue_active_tokens")
    private static let admitted = StackMetrics.counter("queue_admitted_total")

    /// Makes the series now, so they exist before the first admission or expiry.
    static func declare() {
        _ = (waiting, active, admitted)
        for reason in [ExpiryReason.lapsed, .idle, .revoked] { _ = StackMetrics.counter("queue_expired_total", [("reason", reason.rawValue)]) }
    }

    static func record(_ outcome: TickOutcome) {
        if let length = outcome.waiting { waiting.record(length) }
        active.record(outcome.active)
        if !outcome.admitted.isEmpty { admitted.increment(by: Int64(outcome.admitted.count)) }
    }

    static func expired(_ tokens: [ExpiredTokenRef]) {
        for expiry in tokens {
            StackMetrics.counter("queue_expired_total", [("reason", expiry.reason.rawValue)]).increment()
        }
    }
}
