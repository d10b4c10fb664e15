@testable import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import QueueService

/// The waiting room's rules, on an in-memory database with a manual clock.
@Suite("Waiting room")
struct WaitingRoomTests {
    // MARK: Issuing

    @Test("a first token waits at the back of the line; asking again gives the same token, not a new one")
    func issueIsIdempotentPerUser() async throws {
        let fixture = try await QueueFixture()
        let first = try await fixture.room.issue(IssueToken(userId: 7))
        #expect(first.created)
        #expect(first.view.status == .waiting)
        #expect(first.view.position == 1)
        #expect(first.view.expiresAt == nil)
        let again = try await fixture.room.issue(IssueToken(userId: 7))
        #expect(!again.created)
        #expect(again.view == first.view)
        #expect(try await fixture.count(.waiting) == 1)

        // Admitted, the user still gets the same token back, now active.
        try await fixture.tick()
        let active = try await fixture.room.issue(IssueToken(userId: 7))
        #expect(!active.created)
        #expect(active.view.token == first.view.token)
        #expect(active.view.status == .active)
    }

    @Test("each user gets their own token, in arrival order")
    func usersQueueInArrivalOrder() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...3)
        #expect(Set(tokens.values).count == 3)
        for user in Int64(1)...3 {
            let view = try await fixture.status(user, tokens[user]!)
            #expect(view.position == Int(user))
        }
    }

    @Test("a user whose token expired gets a new one at the back of the line")
    func expiredTokenIsReplacedOnIssue() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...2)
        #expect(try await fixture.room.expire(ExpireToken(userId: 1)).expired)
        let next = try await fixture.room.issue(IssueToken(userId: 1))
        #expect(next.created)
        #expect(next.view.token != tokens[1])
        #expect(next.view.position == 3)
        #expect(try await fixture.status(1, tokens[1]!).status == .expired)
    }

    @Test("expire with issuedBefore leaves a token issued after that time alone")
    func expireIssuedBefore() async throws {
        let fixture = try await QueueFixture()
        _ = try await fixture.issue(1...1)
        let paidAt = fixture.clock.now()
        #expect(try await fixture.room.expire(ExpireToken(userId: 1, issuedBefore: paidAt)).expired)
        // The user joins the line again; a late retry of the same call must not end the new token.
        fixture.clock.advance(by: 5)
        let again = try await fixture.room.issue(IssueToken(userId: 1))
        #expect(again.created)
        #expect(try await !fixture.room.expire(ExpireToken(userId: 1, issuedBefore: paidAt)).expired)
        #expect(try await fixture.status(1, again.view.token).status == .waiting)
    }

    @Test("an active token found past its time is expired, and its owner gets a new one")
    func lapsedActiveTokenIsReplacedOnIssue() async throws {
        let fixture = try await QueueFixture()
        let old = try await fixture.issue(1...1)[1]!
        try await fixture.tick()
        fixture.clock.advance(by: QueueFixture.rules.activeSeconds)
        let next = try await fixture.room.issue(IssueToken(userId: 1))
        #expect(next.created)
        #expect(next.view.token != old)
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 1, seq: 1, reason: .lapsed)])
    }

    @Test("user ids must be positive", arguments: [Int64(0), -1, .min])
    func userIdsArePositive(userId: Int64) async throws {
        let fixture = try await QueueFixture()
        let refusal = RemoteError("invalid_request", "userId must be a positive whole number")
        await #expect(throws: refusal) { try await fixture.room.issue(IssueToken(userId: userId)) }
        await #expect(throws: refusal) { try await fixture.room.expire(ExpireToken(userId: userId)) }
        await #expect(throws: refusal) { try await fixture.status(userId, "q1.1.1.1.a.b") }
    }

    // MARK: Tokens that are not the caller's

    @Test("a genuine token round-trips through its wire form")
    func wireFormRoundTrips() async throws {
        let fixture = try await QueueFixture()
        let text = try await fixture.issue(5...5)[5]!
        let parsed = try #require(QueueToken(parsing: text))
        #expect(parsed.userId == 5 && parsed.seq == 1)
        #expect(parsed.issuedAtMs == TokenSigner.milliseconds(fixture.clock.now()))
        #expect(parsed.text == text)
        #expect(fixture.room.signer.verify(text) == parsed)
    }

    @Test("a token's base64url parts round-trip at every length and have one spelling only")
    func base64URLParts() throws {
        for length in 0...40 {
            let data = Data((0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + length) })
            let text = QueueToken.base64URLEncoded(data)
            #expect(text == data.base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: ""))
            #expect(QueueToken.base64URLDecoded(Substring(text)) == data)
        }
        // 0xFB 0xFF: the characters that differ from standard base64.
        #expect(QueueToken.base64URLEncoded(Data([0xFB, 0xFF])) == "-_8")
        for refused in ["-_8=", "+/8", "-_9", "-_8 ", "a", "é"] {
            #expect(QueueToken.base64URLDecoded(Substring(refused)) == nil, "\(refused)")
        }
    }

    /// Ways to alter a genuine token of user 1 with sequence 1.
    static let tamperings: [(String, @Sendable (String) -> String)] = [
        ("another user", { $0.replacingOccurrences(of: "q1.1.1.", with: "q1.2.1.") }),
        ("another sequence", { $0.replacingOccurrences(of: "q1.1.1.", with: "q1.1.2.") }),
        ("another issue time", { text in
            var parts = text.split(separator: ".").map(String.init)
            parts[3] = String(Int64(parts[3])! + 1)
            return parts.joined(separator: ".")
        }),
        ("another nonce", { text in
            var parts = text.split(separator: ".").map(String.init)
            parts[4] = String(parts[4].reversed())
            return parts.joined(separator: ".")
        }),
        ("a flipped MAC character", { text in
            var characters = Array(text)
            let index = characters.count - 10
            characters[index] = characters[index] == "A" ? "B" : "A"
            return String(characters)
        }),
        ("a MAC cut short", { String($0.dropLast(4)) }),
        ("a trailing dot", { $0 + "." }),
        ("a leading zero", { $0.replacingOccurrences(of: "q1.1.1.", with: "q1.01.1.") }),
        ("padding", { $0 + "=" }),
        ("surrounding spaces", { " \($0) " }),
        ("another version", { "q2" + $0.dropFirst(2) }),
    ]

    @Test("a tampered token is refused alike by every method", arguments: 0..<tamperings.count)
    func tamperedTokensAreRefused(index: Int) async throws {
        let fixture = try await QueueFixture()
        let genuine = try await fixture.issue(1...2)[1]!
        let (_, tamper) = Self.tamperings[index]
        try await expectRefusedEverywhere(fixture, user: 1, token: tamper(genuine))
        // Claiming the user the token was altered to name changes nothing.
        try await expectRefusedEverywhere(fixture, user: 2, token: tamper(genuine))
        #expect(try await fixture.status(1, genuine).status == .waiting)
    }

    @Test("malformed tokens are refused, never a crash", arguments: [
        "", "garbage", "q1", "q1.1.1.1", "q1.1.1.1.AAAA.AAAA", "q1.-1.1.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA",
        "q1.1.1.1.!!!!.????", "q1.99999999999999999999.1.1.AAAAAAAAAAAAAAAAAAAAAA.AAAA", "🎫.🎫.🎫.🎫.🎫.🎫",
        String(repeating: "q1.", count: 5_000), "q1.1.1.1.\u{0}.\u{0}",
    ])
    func malformedTokensAreRefused(token: String) async throws {
        let fixture = try await QueueFixture()
        _ = try await fixture.issue(1...1)
        try await expectRefusedEverywhere(fixture, user: 1, token: token)
    }

    @Test("a token signed with any other key is refused, though well formed")
    func forgedTokensAreRefused() async throws {
        let fixture = try await QueueFixture()
        let genuine = try await fixture.issue(1...1)[1]!
        let row = try #require(try await fixture.database.writer.read { try Token.fetchOne($0, sql: "SELECT * FROM token") })
        let forger = TokenSigner(key: Data(repeating: 0x42, count: 32))
        let forged = forger.text(for: row)
        #expect(forged != genuine)
        #expect(QueueToken(parsing: forged) != nil)
        try await expectRefusedEverywhere(fixture, user: 1, token: forged)
    }

    @Test("another user's genuine token is refused, and left as it was")
    func otherUsersTokenIsRefused() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...2)
        try await expectRefusedEverywhere(fixture, user: 2, token: tokens[1]!)
        #expect(try await fixture.status(1, tokens[1]!).status == .waiting)
        #expect(try await fixture.status(2, tokens[2]!).status == .waiting)
    }

    @Test("a genuine token whose row is gone (a replaced database) is refused")
    func unknownTokenIsRefused() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        try await fixture.database.writer.write { try $0.execute(sql: "DELETE FROM token") }
        try await expectRefusedEverywhere(fixture, user: 1, token: token)
    }

    func expectRefusedEverywhere(_ fixture: QueueFixture, user: Int64, token: String,
                                 sourceLocation: SourceLocation = #_sourceLocation) async throws {
        await #expect(throws: WaitingRoom.inactive, sourceLocation: sourceLocation) { try await fixture.status(user, token) }
        await #expect(throws: WaitingRoom.inactive, sourceLocation: sourceLocation) { try await fixture.validate(user, token) }
        await #expect(throws: WaitingRoom.inactive, sourceLocation: sourceLocation) {
            try await fixture.room.expire(ExpireToken(userId: user, token: token))
        }
    }

    // MARK: Status

    @Test("position is the distance to now serving, and the wait is position over the rate, rounded up")
    func positionsAndEstimatedWait() async throws {
        // 10 a second, at most 5 active: one tick admits 2 (a fifth of a second's worth).
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...25)
        #expect(try await fixture.status(25, tokens[25]!).position == 25)
        #expect(try await fixture.status(25, tokens[25]!).estimatedWaitSeconds == 3)
        #expect(try await fixture.status(10, tokens[10]!).estimatedWaitSeconds == 1)
        #expect(try await fixture.status(11, tokens[11]!).estimatedWaitSeconds == 2)

        try await fixture.tick()
        let first = try await fixture.status(1, tokens[1]!)
        #expect(first.status == .active && first.position == 0 && first.estimatedWaitSeconds == 0)
        #expect(first.expiresAt == fixture.clock.now().addingTimeInterval(QueueFixture.rules.activeSeconds))
        let third = try await fixture.status(3, tokens[3]!)
        #expect(third.status == .waiting && third.position == 1 && third.estimatedWaitSeconds == 1)
        #expect(try await fixture.status(25, tokens[25]!).position == 23)
    }

    @Test("places left by those who went count until now serving passes them (no count over the line)")
    func positionIsAnUpperBound() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...4)
        _ = try await fixture.room.expire(ExpireToken(userId: 2))
        #expect(try await fixture.status(4, tokens[4]!).position == 4)
        try await fixture.tick()  // admits 1 and 3: the place of 2 is skipped
        #expect(try await fixture.status(4, tokens[4]!).position == 1)
    }

    @Test("the pace: about a second while waiting, longer once admitted or expired, always inside the idle limit")
    func pollPace() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...3)
        #expect(try await fixture.status(3, tokens[3]!).pollAfterMs == 1000)
        try await fixture.tick()
        #expect(try await fixture.status(1, tokens[1]!).pollAfterMs == WaitingRoom.settledPollMs)
        _ = try await fixture.room.expire(ExpireToken(userId: 1))
        #expect(try await fixture.status(1, tokens[1]!).pollAfterMs == WaitingRoom.settledPollMs)

        let hasty = try await QueueFixture(rules: QueueRules(admitPerSecond: 1, maxActive: 1, activeSeconds: 1, idleSeconds: 2))
        let token = try await hasty.issue(1...1)[1]!
        #expect(try await hasty.status(1, token).pollAfterMs == 500)
        try await hasty.tick()
        #expect(try await hasty.status(1, token).pollAfterMs == 1000)
    }

    @Test("an expired token's status says expired, with when it expired")
    func expiredStatus() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        fixture.clock.advance(by: 3)
        _ = try await fixture.room.expire(ExpireToken(userId: 1))
        let view = try await fixture.status(1, token)
        #expect(view.status == .expired && view.position == 0 && view.estimatedWaitSeconds == 0)
        #expect(view.expiresAt == fixture.clock.now())
    }

    // MARK: Validate

    @Test("validate: only an active token of this user, until its time is up, tick or no tick")
    func validateTellsActive() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        #expect(try await fixture.validate(1, token) == TokenValidity(active: false, expiresAt: nil))
        try await fixture.tick()
        let expiresAt = fixture.clock.now().addingTimeInterval(QueueFixture.rules.activeSeconds)
        #expect(try await fixture.validate(1, token) == TokenValidity(active: true, expiresAt: expiresAt))
        fixture.at(QueueFixture.rules.activeSeconds - 0.01)
        #expect(try await fixture.validate(1, token).active)
        fixture.at(QueueFixture.rules.activeSeconds)
        #expect(try await fixture.validate(1, token) == TokenValidity(active: false, expiresAt: nil))
    }

    @Test("validate is a read: it does not keep a waiting token from idling out")
    func validateDoesNotRefresh() async throws {
        let fixture = try await QueueFixture(rules: QueueRules(admitPerSecond: 10, maxActive: 1, activeSeconds: 600, idleSeconds: 30))
        let tokens = try await fixture.issue(1...2)
        try await fixture.tick()  // 1 active, 2 waits behind the cap
        fixture.clock.advance(by: 20)
        _ = try await fixture.validate(2, tokens[2]!)
        fixture.clock.advance(by: 10)
        try await fixture.tick()
        #expect(try await fixture.status(2, tokens[2]!).status == .expired)
    }

    // MARK: Expire

    @Test("expire is idempotent: the first call expires the live token, later ones find none")
    func expireIsIdempotent() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        try await fixture.tick()
        #expect(try await fixture.room.expire(ExpireToken(userId: 1)).expired)
        #expect(try await !fixture.room.expire(ExpireToken(userId: 1)).expired)
        #expect(try await !fixture.room.expire(ExpireToken(userId: 1, token: token)).expired)
        #expect(try await !fixture.room.expire(ExpireToken(userId: 99)).expired)
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 1, seq: 1, reason: .revoked)])
        #expect(try await fixture.validate(1, token).active == false)
    }

    @Test("expire with a token ends only that token, not one issued since")
    func expireByTokenSparesNewerToken() async throws {
        let fixture = try await QueueFixture()
        let old = try await fixture.issue(1...1)[1]!
        _ = try await fixture.room.expire(ExpireToken(userId: 1))
        let new = try await fixture.room.issue(IssueToken(userId: 1)).view.token
        #expect(try await !fixture.room.expire(ExpireToken(userId: 1, token: old)).expired)
        #expect(try await fixture.status(1, new).status == .waiting)
        #expect(try await fixture.room.expire(ExpireToken(userId: 1, token: new)).expired)
    }

    // MARK: Expiry and admission

    @Test("a waiting token nobody asks about for the idle time expires; asking keeps it in line")
    func idleExpiry() async throws {
        let fixture = try await QueueFixture(rules: QueueRules(admitPerSecond: 10, maxActive: 1, activeSeconds: 600, idleSeconds: 30))
        let tokens = try await fixture.issue(1...3)
        try await fixture.tick()  // 1 is admitted; 2 and 3 wait behind the cap
        fixture.clock.advance(by: 20)
        _ = try await fixture.status(2, tokens[2]!)
        fixture.clock.advance(by: 10)
        try await fixture.tick()
        #expect(try await fixture.status(2, tokens[2]!).status == .waiting)
        #expect(try await fixture.status(3, tokens[3]!).status == .expired)
        #expect(try await fixture.status(1, tokens[1]!).status == .active)  // idling applies to the waiting only
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 3, seq: 3, reason: .idle)])
    }

    @Test("an idle token asked about before a tick noticed is found expired, not revived")
    func idleTokenIsNotRevived() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        fixture.clock.advance(by: QueueFixture.rules.idleSeconds)
        #expect(try await fixture.status(1, token).status == .expired)
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 1, seq: 1, reason: .idle)])
        try await fixture.tick()
        #expect(fixture.events.admitted.isEmpty)
    }

    @Test("an active token expires its active time after admission")
    func activeExpiry() async throws {
        let fixture = try await QueueFixture()
        let token = try await fixture.issue(1...1)[1]!
        try await fixture.tick()
        fixture.at(QueueFixture.rules.activeSeconds - 0.1)
        try await fixture.tick()
        #expect(try await fixture.count(.active) == 1)
        fixture.at(QueueFixture.rules.activeSeconds)
        try await fixture.tick()
        #expect(try await fixture.count(.active) == 0)
        #expect(fixture.events.expired == [ExpiredTokenRef(userId: 1, seq: 1, reason: .lapsed)])
        #expect(try await fixture.status(1, token).status == .expired)
    }

    @Test("a slot freed by leaving or by time running out is filled on the next tick")
    func freedSlotIsFilledOnNextTick() async throws {
        let fixture = try await QueueFixture(rules: QueueRules(admitPerSecond: 100, maxActive: 2, activeSeconds: 10, idleSeconds: 600))
        let tokens = try await fixture.issue(1...4)
        try await fixture.tick()
        #expect(try await fixture.count(.active) == 2)
        fixture.at(0.1)
        try await fixture.tick()
        #expect(try await fixture.status(3, tokens[3]!).status == .waiting)

        _ = try await fixture.room.expire(ExpireToken(userId: 1, token: tokens[1]!))
        fixture.at(0.2)
        try await fixture.tick()
        #expect(try await fixture.status(3, tokens[3]!).status == .active)
        #expect(try await fixture.status(4, tokens[4]!).status == .waiting)

        // 2 runs out of time 10 s after its admission: 4 takes its slot in the same tick.
        fixture.at(10)
        try await fixture.tick()
        #expect(try await fixture.status(4, tokens[4]!).status == .active)
        #expect(try await fixture.count(.active) == 2)
    }

    @Test("the admitted event carries now serving and each admitted token; the expired event names each one")
    func eventsDescribeAdmissionAndExpiry() async throws {
        let fixture = try await QueueFixture()
        let tokens = try await fixture.issue(1...3)
        try await fixture.tick()
        let expiresAt = fixture.clock.now().addingTimeInterval(QueueFixture.rules.activeSeconds)
        #expect(fixture.events.admitted == [AdmittedEvent(throughSeq: 2, tokens: [
            AdmittedToken(userId: 1, seq: 1, expiresAt: expiresAt, digest: QueueToken.digest(of: tokens[1]!)),
            AdmittedToken(userId: 2, seq: 2, expiresAt: expiresAt, digest: QueueToken.digest(of: tokens[2]!)),
        ])])
        fixture.clock.advance(by: 0.1)
        try await fixture.tick()  // the bucket refills one place a tenth of a second
        #expect(fixture.events.admitted.last?.throughSeq == 3)
        fixture.clock.advance(by: 0.1)
        try await fixture.tick()
        #expect(fixture.events.all.count == 2, "a tick that changes nothing publishes nothing")
    }

    @Test("a gateway keeping a view from the events alone agrees with validate at every step")
    func eventsAloneTellActiveTokens() async throws {
        let rules = QueueRules(admitPerSecond: 20, maxActive: 6, activeSeconds: 2, idleSeconds: 600)
        let fixture = try await QueueFixture(rules: rules)
        let tokens = try await fixture.issue(1...30)
        var active: [Int64: (expiresAt: Date, digest: String)] = [:]  // by seq, from events only
        var seen = 0
        for step in 0..<100 {
            if step % 7 == 3 { _ = try await fixture.room.expire(ExpireToken(userId: Int64(step % 30 + 1))) }
            try await fixture.tick()
            for event in fixture.events.all.dropFirst(seen) {
                switch event {
                case .admitted(let body): for token in body.tokens { active[token.seq] = (token.expiresAt, token.digest) }
                case .expired(let body): for token in body.tokens { active[token.seq] = nil }
                }
            }
            seen = fixture.events.all.count
            let now = fixture.clock.now()
            for user in Int64(1)...30 {
                let claims = try #require(QueueToken(parsing: tokens[user]!))
                let fromEvents = active[claims.seq].map { $0.expiresAt > now && $0.digest == QueueToken.digest(of: tokens[user]!) } ?? false
                #expect(try await fixture.validate(user, tokens[user]!).active == fromEvents, "user \(user) at step \(step)")
            }
            fixture.at(Double(step + 1) / 10)
        }
        #expect(fixture.events.admitted.count > 5)
    }

    @Test("tokens and the line outlive a restart: the signing key and state are in the file")
    func restartKeepsTokensValid() async throws {
        let folder = try TemporaryDirectory("queue")
        defer { folder.remove() }
        let path = folder.file("queue.sqlite")
        let clock = ManualClock()
        let first = try await QueueFixture(writer: try DatabaseOpener.openPool(path: path, migrator: QueueDatabase.migrator), clock: clock)
        let tokens = try await first.issue(1...3)
        try await first.tick()
        try first.database.writer.close()

        let second = try await QueueFixture(writer: try DatabaseOpener.openPool(path: path, migrator: QueueDatabase.migrator), clock: clock)
        #expect(try await second.status(1, tokens[1]!).status == .active)
        #expect(try await second.status(3, tokens[3]!).position == 1)
        #expect(try await second.room.issue(IssueToken(userId: 4)).view.position == 2)
    }
}
