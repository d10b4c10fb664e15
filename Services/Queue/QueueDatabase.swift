import Contracts
import Foundation
import GRDB
import ServiceKit

/// A row of `token`: one place in the waiting room (ERD `TOKEN`, plus what position and expiry need).
struct Token: SnakeCaseRecord, Sendable, Equatable, MutablePersistableRecord {
    static let databaseTableName = "token"

    var id: Int64?
    var userId: Int64
    /// 16 random bytes, also carried (and signed) in the wire token.
    var uuid: Data
    var status: TokenStatus
    /// Arrival order: 1, 2, 3… Admission follows it, and position is measured in it.
    var seq: Int64
    /// While active: when it stops being active. Once expired: when it did. Null while waiting.
    var expiredAt: Date?
    var admittedAt: Date?
    /// When its owner last asked about it; a waiting token unasked for `QUEUE_IDLE_SECONDS` expires.
    var lastSeenAt: Date
    var createdAt: Date
    var updatedAt: Date

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// The columns in the table's order, read by index (`init(row:)`): every issue, status poll and
    /// tick reads tokens, and the Codable path with GRDB's date handling cost several times more.
    static let columns = "id, user_id, uuid, status, seq, expired_at, admitted_at, last_seen_at, created_at, updated_at"

    /// The token numbered `seq`.
    static func find(seq: Int64, _ db: Database) throws -> Token? {
        try fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM token WHERE seq = ?"), arguments: [seq])
    }

    /// The user's waiting or active token (one at most, by a unique index).
    static func live(userId: Int64, _ db: Database) throws -> Token? {
        try fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM token WHERE user_id = ? AND status IN ('waiting', 'active')"),
                     arguments: [userId])
    }

    /// Inserts the row and takes the id SQLite gave it.
    mutating func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO token (user_id, uuid, status, seq, expired_at, admitted_at, last_seen_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [userId, uuid, status.rawValue, seq, expiredAt.map(StoredDate.text), admittedAt.map(StoredDate.text),
                                     StoredDate.text(lastSeenAt), StoredDate.text(createdAt), StoredDate.text(updatedAt)])
        id = db.lastInsertedRowID
    }

    /// Writes back what changes over a token's life: its status and times.
    func updateRow(_ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE token SET status = ?, expired_at = ?, admitted_at = ?, last_seen_at = ?, updated_at = ? WHERE id = ?
            """).execute(arguments: [status.rawValue, expiredAt.map(StoredDate.text), admittedAt.map(StoredDate.text),
                                     StoredDate.text(lastSeenAt), StoredDate.text(updatedAt), id])
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["id": id])
    }
}

extension Token {
    init(row: Row) throws {
        id = row[0]
        userId = row[1]
        uuid = row[2]
        status = try row.stored(3, of: Self.databaseTableName)
        seq = row[4]
        expiredAt = row.storedDate(5)
        admittedAt = row.storedDate(6)
        lastSeenAt = try row.requiredDate(7)
        createdAt = try row.requiredDate(8)
        updatedAt = try row.requiredDate(9)
    }
}

/// The single row of `queue_state`: the signing key and how far issuing and admission have got.
struct QueueState: SnakeCaseRecord, Sendable, Equatable, PersistableRecord {
    static let databaseTableName = "queue_state"

    var id: Int64
    /// The HMAC-SHA256 key of the wire tokens: made once, so tokens outlive restarts.
    var signingKey: Data
    /// The last sequence handed out.
    var issuedThrough: Int64
    /// The highest sequence admitted ("now serving").
    var admittedThrough: Int64
    /// Admissions the rate has allowed but that have not been used yet (the token bucket's level),
    /// in thousandths: whole numbers, so a rate of 1 a second admits after exactly ten ticks of
    /// 100 ms, not after ten sums of 0.1 that fall just short of 1.
    var admitCreditThousandths: Int64
    var lastTickAt: Date?
    var updatedAt: Date

    /// The columns in the table's order, read by index (`init(row:)`).
    static let columns = "id, signing_key, issued_through, admitted_through, admit_credit_thousandths, last_tick_at, updated_at"

    /// Writes back what issuing and ticks move (the key never changes).
    func updateRow(_ db: Database) throws {
        try db.cachedStatement(sql: """
            UPDATE queue_state SET issued_through = ?, admitted_through = ?, admit_credit_thousandths = ?, last_tick_at = ?,
                updated_at = ? WHERE id = ?
            """).execute(arguments: [issuedThrough, admittedThrough, admitCreditThousandths, lastTickAt.map(StoredDate.text),
                                     StoredDate.text(updatedAt), id])
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["id": id])
    }
}

extension QueueState {
    init(row: Row) throws {
        id = row[0]
        signingKey = row[1]
        issuedThrough = row[2]
        admittedThrough = row[3]
        admitCreditThousandths = row[4]
        lastTickAt = row.storedDate(5)
        updatedAt = try row.requiredDate(6)
    }
}

/// The rules of the waiting room (CONTRACT §2).
struct QueueRules: Sendable, Equatable {
    var admitPerSecond: Int
    var maxActive: Int
    var activeSeconds: Double
    var idleSeconds: Double

    /// The most a tick admits, and the most expired tokens one tick settles per kind, so that one
    /// transaction and one event stay small whatever the configuration; the rest wait a tick.
    static let maxBatch = 4096
    /// How much unused rate the bucket keeps: a fifth of a second's worth, so admission stays
    /// smooth (a tick every 100 ms admits about a tenth of the rate) yet a late tick loses nothing.
    static let burstSeconds = 0.2

    /// The bucket's size in thousandths of an admission: at least one whole admission.
    var bucketCapacityThousandths: Int64 { max(1000, Int64((Double(admitPerSecond) * Self.burstSeconds * 1000).rounded())) }
}

/// What a tick did, for the events published after it commits.
struct TickOutcome: Sendable, Equatable {
    var admitted: [Token] = []
    var expired: [ExpiredTokenRef] = []
    var admittedThrough: Int64 = 0
    /// Tokens active after the tick.
    var active = 0
    /// Tokens waiting after the tick, when the tick was asked to count them.
    var waiting: Int?
}

/// The queue's SQLite file (GRDB's `AppDatabase` style): every method is one transaction.
struct QueueDatabase: Sendable {
    let writer: any DatabaseWriter
    /// Every write goes through it, so writes that wait commit together (DESIGN §6).
    let commits: GroupCommit

    init(_ writer: any DatabaseWriter) {
        self.writer = writer
        self.commits = GroupCommit(writer)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE token (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL CHECK (user_id > 0),
                    uuid BLOB NOT NULL UNIQUE CHECK (length(uuid) = 16),
                    status TEXT NOT NULL CHECK (status IN ('waiting', 'active', 'expired')),
                    seq INTEGER NOT NULL UNIQUE CHECK (seq > 0),
                    expired_at DATETIME,
                    admitted_at DATETIME,
                    last_seen_at DATETIME NOT NULL,
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                -- One live token per user: issuing is idempotent even against a racing caller.
                CREATE UNIQUE INDEX token_live_user ON token(user_id) WHERE status IN ('waiting', 'active');
                -- Each tick reads the head of the line, the idle and the lapsed without scanning history.
                CREATE INDEX token_waiting_seq ON token(seq) WHERE status = 'waiting';
                CREATE INDEX token_waiting_seen ON token(last_seen_at) WHERE status = 'waiting';
                CREATE INDEX token_active_expiry ON token(expired_at) WHERE status = 'active';
                CREATE INDEX token_admitted_at ON token(admitted_at);

                CREATE TABLE queue_state (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    signing_key BLOB NOT NULL CHECK (length(signing_key) >= 32),
                    issued_through INTEGER NOT NULL,
                    admitted_through INTEGER NOT NULL,
                    admit_credit_thousandths INTEGER NOT NULL,
                    last_tick_at DATETIME,
                    updated_at DATETIME NOT NULL
                );
                """)
            var generator = SystemRandomNumberGenerator()
            let key = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })
            try QueueState(id: 1, signingKey: key, issuedThrough: 0, admittedThrough: 0, admitCreditThousandths: 0,
                           lastTickAt: nil, updatedAt: Date(timeIntervalSince1970: 0)).insert(db)
        }
        return migrator
    }

    /// The key tokens are signed with.
    func signingKey() async throws -> Data {
        try await writer.read { db in try Self.state(db).signingKey }
    }

    // MARK: Issue, look up, expire

    /// What `issue` found or made.
    struct Issued: Sendable {
        var token: Token
        var created: Bool
        var admittedThrough: Int64
        var expired: [ExpiredTokenRef]
    }

    /// The user's live token, refreshed as asked about, or a new one at the back of the line.
    func issue(userId: Int64, nonce: Data, now: Date, rules: QueueRules) async throws -> Issued {
        let now = now.wholeMilliseconds
        return try await commits.write { db in
            var expired: [ExpiredTokenRef] = []
            var state = try Self.state(db)
            if var live = try Token.live(userId: userId, db) {
                if let reason = try Self.settle(&live, db, now: now, rules: rules) {
                    expired.append(ExpiredTokenRef(userId: live.userId, seq: live.seq, reason: reason))
                } else {
                    try Self.touch(&live, db, now: now)
                    return Issued(token: live, created: false, admittedThrough: state.admittedThrough, expired: expired)
                }
            }
            state.issuedThrough += 1
            state.updatedAt = now
            try state.updateRow(db)
            var token = Token(id: nil, userId: userId, uuid: nonce, status: .waiting, seq: state.issuedThrough,
                              expiredAt: nil, admittedAt: nil, lastSeenAt: now, createdAt: now, updatedAt: now)
            try token.insertRow(db)
            // `now` is in whole milliseconds, as stored, so the token's text (which carries created_at)
            // is the same as on every later read of the row.
            return Issued(token: token, created: true, admittedThrough: state.admittedThrough, expired: expired)
        }
    }

    /// What a token lookup found.
    struct Found: Sendable {
        var token: Token
        var admittedThrough: Int64
        /// The token itself, if the lookup found it past its time and expired it.
        var expired: ExpiredTokenRef?
    }

    /// The token numbered `seq`, if it is `userId`'s with this nonce; its owner asking about it
    /// keeps it from idling out. A token found past its time is expired on the spot.
    func lookUp(seq: Int64, userId: Int64, nonce: Data, now: Date, rules: QueueRules) async throws -> Found? {
        let now = now.wholeMilliseconds
        return try await commits.write { db in
            guard var token = try Self.token(db, seq: seq, userId: userId, nonce: nonce) else { return nil }
            let reason = try Self.settle(&token, db, now: now, rules: rules)
            if reason == nil { try Self.touch(&token, db, now: now) }
            return Found(token: token, admittedThrough: try Self.state(db).admittedThrough,
                         expired: reason.map { ExpiredTokenRef(userId: token.userId, seq: token.seq, reason: $0) })
        }
    }

    /// The token numbered `seq` if it is `userId`'s with this nonce, as stored: a read, no write.
    func peek(seq: Int64, userId: Int64, nonce: Data) async throws -> Token? {
        try await writer.read { db in try Self.token(db, seq: seq, userId: userId, nonce: nonce) }
    }

    /// Expires the user's live token, or only `token` (its seq and nonce) when given. Returns what
    /// expired: the token revoked, or nothing when none was live (one found already past its time
    /// expires as such); nil when `token` is not the user's.
    func expire(userId: Int64, token: (seq: Int64, nonce: Data)?, issuedBefore: Date? = nil, now: Date,
                rules: QueueRules) async throws -> [ExpiredTokenRef]? {
        let now = now.wholeMilliseconds
        return try await commits.write { db in
            if let token, try Self.token(db, seq: token.seq, userId: userId, nonce: token.nonce) == nil { return nil }
            guard var live = try Token.live(userId: userId, db),
                  token == nil || live.seq == token?.seq,
                  issuedBefore.map({ live.createdAt <= $0 }) ?? true
            else { return [] }
            if let reason = try Self.settle(&live, db, now: now, rules: rules) {
                return [ExpiredTokenRef(userId: live.userId, seq: live.seq, reason: reason)]
            }
            live.status = .expired
            live.expiredAt = now
            live.updatedAt = now
            try live.updateRow(db)
            return [ExpiredTokenRef(userId: live.userId, seq: live.seq, reason: .revoked)]
        }
    }

    // MARK: Admission

    /// One admission tick, in one transaction: expires the lapsed and the idle, then admits the head
    /// of the line as far as the rate and the active cap allow.
    ///
    /// The rate holds two ways. A token bucket filled at `admitPerSecond` and holding at most
    /// `bucketCapacity` spreads admissions over the ticks; and a tick never admits more than the rate
    /// less what was admitted in the second before it, so no window of one second ever holds more
    /// than `admitPerSecond` admissions, however late or irregular the ticks.
    /// `countWaiting` also counts the tokens still waiting, for the waiting room's length (a count
    /// over the whole line: the admission loop asks for it about once a second, not every tick).
    func tick(now: Date, rules: QueueRules, countWaiting: Bool = false) async throws -> TickOutcome {
        let now = now.wholeMilliseconds
        return try await commits.write { db in
            var outcome = TickOutcome()
            let lapsed = try Token.fetchAll(db.cachedStatement(sql: """
                SELECT \(Token.columns) FROM token WHERE status = 'active' AND expired_at <= ? ORDER BY expired_at LIMIT ?
                """), arguments: [StoredDate.text(now), QueueRules.maxBatch])
            for var token in lapsed {
                token.status = .expired
                token.updatedAt = now
                try token.updateRow(db)
                outcome.expired.append(ExpiredTokenRef(userId: token.userId, seq: token.seq, reason: .lapsed))
            }
            let idle = try Token.fetchAll(db.cachedStatement(sql: """
                SELECT \(Token.columns) FROM token WHERE status = 'waiting' AND last_seen_at <= ? ORDER BY last_seen_at LIMIT ?
                """), arguments: [StoredDate.text(now.addingTimeInterval(-rules.idleSeconds)), QueueRules.maxBatch])
            for var token in idle {
                token.status = .expired
                token.expiredAt = now
                token.updatedAt = now
                try token.updateRow(db)
                outcome.expired.append(ExpiredTokenRef(userId: token.userId, seq: token.seq, reason: .idle))
            }

            var state = try Self.state(db)
            // The first tick ever starts with a full bucket; later ones add the rate times the time
            // since the last (in whole milliseconds, at most ten seconds' worth: the bucket is smaller anyway).
            let capacity = rules.bucketCapacityThousandths
            if let lastTickAt = state.lastTickAt {
                let elapsedMs = Int64(min(10_000, max(0, (now.timeIntervalSince(lastTickAt) * 1000).rounded())))
                state.admitCreditThousandths = min(capacity, state.admitCreditThousandths + elapsedMs * Int64(rules.admitPerSecond))
            } else {
                state.admitCreditThousandths = capacity
            }
            let active = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM token WHERE status = 'active'")) ?? 0
            // Times are stored to the millisecond; half a millisecond of slack keeps an admission made
            // exactly one second ago out of the window whichever way the float rounds.
            let lastSecond = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM token WHERE admitted_at > ?"),
                                              arguments: [StoredDate.text(now.addingTimeInterval(-0.9995))]) ?? 0
            let budget = max(0, min(Int(state.admitCreditThousandths / 1000), rules.maxActive - active,
                                    rules.admitPerSecond - lastSecond, QueueRules.maxBatch))
            if budget > 0 {
                let head = try Token.fetchAll(db.cachedStatement(sql: """
                    SELECT \(Token.columns) FROM token WHERE status = 'waiting' ORDER BY seq LIMIT ?
                    """), arguments: [budget])
                for var token in head {
                    token.status = .active
                    token.admittedAt = now
                    token.expiredAt = now.addingTimeInterval(rules.activeSeconds).wholeMilliseconds
                    token.updatedAt = now
                    try token.updateRow(db)
                    outcome.admitted.append(token)
                }
                state.admitCreditThousandths -= Int64(head.count) * 1000
                if let last = head.last { state.admittedThrough = max(state.admittedThrough, last.seq) }
            }
            state.lastTickAt = now
            state.updatedAt = now
            try state.updateRow(db)
            outcome.admittedThrough = state.admittedThrough
            outcome.active = active + outcome.admitted.count
            if countWaiting {
                outcome.waiting = try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM token WHERE status = 'waiting'")) ?? 0
            }
            return outcome
        }
    }

    // MARK: Helpers (inside a transaction)

    static func state(_ db: Database) throws -> QueueState {
        guard let state = try QueueState.fetchOne(db.cachedStatement(sql: "SELECT \(QueueState.columns) FROM queue_state WHERE id = 1")) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "queue_state has no row; the v1 migration makes it")
        }
        return state
    }

    static func token(_ db: Database, seq: Int64, userId: Int64, nonce: Data) throws -> Token? {
        guard let token = try Token.find(seq: seq, db),
              token.userId == userId, token.uuid == nonce
        else { return nil }
        return token
    }

    /// Expires a live token found past its time (a tick would have, a moment later); returns why, or nil when it is still live.
    static func settle(_ token: inout Token, _ db: Database, now: Date, rules: QueueRules) throws -> ExpiryReason? {
        let reason: ExpiryReason
        switch token.status {
        case .active:
            guard let expiredAt = token.expiredAt, expiredAt <= now else { return nil }
            reason = .lapsed
        case .waiting:
            guard token.lastSeenAt <= now.addingTimeInterval(-rules.idleSeconds) else { return nil }
            reason = .idle
            token.expiredAt = now
        case .expired:
            return nil
        }
        token.status = .expired
        token.updatedAt = now
        try token.updateRow(db)
        return reason
    }

    /// Records that the owner asked about a waiting token, which keeps it in line.
    static func touch(_ token: inout Token, _ db: Database, now: Date) throws {
        guard token.status == .waiting else { return }
        token.lastSeenAt = now
        token.updatedAt = now
        try token.updateRow(db)
    }
}

extension Date {
    /// The time as the database keeps it (to the millisecond), so what a method returns or publishes
    /// is exactly what a later read finds.
    var wholeMilliseconds: Date {
        Date(timeIntervalSince1970: (timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}
