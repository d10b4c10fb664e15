import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit

extension ReservationStatus: DatabaseValueConvertible {}
extension CancelReason: DatabaseValueConvertible {}

/// A reservation (ERD `reservation`), with copies of what the seat said when it was held (so reads
/// need no other service) and the saga's facts about it.
struct ReservationRecord: SnakeCaseRecord, MutablePersistableRecord, Sendable {
    static let databaseTableName = "reservation"

    var id: Int64?
    var userId: Int64
    var concertSeatId: Int64
    var concertScheduleId: Int64
    var concertId: Int64
    var seatNumber: Int
    var price: Int64
    var status: ReservationStatus
    /// When the hold lapses (the API's `expiresAt`); moved once, by the payment's bounded extension.
    var expiredAt: Date
    /// When the schedule's reservation window closes: a paid reservation is cancelable until then.
    var reservationEndAt: Date
    /// False while the hold is being asked for: such a row is nobody's reservation yet and is never shown.
    var recorded: Bool
    /// Where the one extension a payment may ask for goes: fixed the first time, so retries never stretch it.
    var holdExtendedTo: Date?
    /// Whether a debit has ever been sent for it: then any cancellation voids the payment too.
    var debitSent: Bool
    var paymentId: Int64?
    var paidAt: Date?
    /// The balance right after the debit, for the payment's answer.
    var paidBalance: Int64?
    var cancelReason: CancelReason?
    var createdAt: Date
    var updatedAt: Date

    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// The columns in the table's order: what `init(row:)` reads by index, and what every query selects.
    static let columnNames = [
        "id", "user_id", "concert_seat_id", "concert_schedule_id", "concert_id", "seat_number", "price", "status", "expired_at",
        "reservation_end_at", "recorded", "hold_extended_to", "debit_sent", "payment_id", "paid_at", "paid_balance",
        "cancel_reason", "created_at", "updated_at",
    ]
    static let columns = columnNames.joined(separator: ", ")
    private static let selectByID = "SELECT \(columns) FROM reservation WHERE id = ?"
    private static let insertSQL = "INSERT INTO reservation (\(columns)) VALUES (\(columnNames.map { _ in "?" }.joined(separator: ", ")))"
    private static let updateSQL = "UPDATE reservation SET \(columnNames.dropFirst().map { "\($0) = ?" }.joined(separator: ", ")) WHERE id = ?"

    /// The values of `columns` but the id, dates as `StoredDate` text.
    private var values: [(any DatabaseValueConvertible)?] {
        [userId, concertSeatId, concertScheduleId, concertId, seatNumber, price, status.rawValue, StoredDate.text(expiredAt),
         StoredDate.text(reservationEndAt), recorded, holdExtendedTo.map(StoredDate.text), debitSent, paymentId,
         paidAt.map(StoredDate.text), paidBalance, cancelReason?.rawValue, StoredDate.text(createdAt), StoredDate.text(updatedAt)]
    }

    func encode(to container: inout PersistenceContainer) {
        container["id"] = id
        for (column, value) in zip(Self.columnNames.dropFirst(), values) { container[column] = value }
    }

    /// The row by id, through a statement compiled once per connection.
    static func find(_ id: Int64, _ db: Database) throws -> ReservationRecord? {
        try fetchOne(db.cachedStatement(sql: selectByID), arguments: [id])
    }

    /// Inserts the row with its id (always chosen beforehand, see `newId`).
    func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.insertSQL).execute(arguments: StatementArguments([id] + values))
    }

    /// Writes every column back; the row must exist.
    func updateRow(_ db: Database) throws {
        try db.cachedStatement(sql: Self.updateSQL).execute(arguments: StatementArguments(values + [id]))
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["id": id])
    }

    /// The id the saga gives other services: the hold's owner, the debit's key.
    var sagaKey: String { "\(id ?? 0)" }

    var view: ReservationView {
        ReservationView(id: id ?? 0, userId: userId, seatId: concertSeatId, scheduleId: concertScheduleId, concertId: concertId,
                        seatNumber: seatNumber, price: price, status: status, expiresAt: expiredAt, createdAt: createdAt,
                        cancelReason: cancelReason)
    }

    var event: ReservationEvent {
        ReservationEvent(reservationId: id ?? 0, userId: userId, seatId: concertSeatId, scheduleId: concertScheduleId,
                         status: status, cancelReason: cancelReason)
    }

    var paymentView: PaymentView? {
        guard let paymentId, let paidAt, let paidBalance, let id else { return nil }
        return PaymentView(id: paymentId, reservationId: id, amount: price, balance: paidBalance, paidAt: paidAt)
    }
}

extension ReservationRecord {
    /// Read column by column, in the order of `columns`: every step of every saga reads this row,
    /// and the Codable path with GRDB's date parsing cost several times more (docs/benchmarks.md).
    init(row: Row) throws {
        id = row[0]
        userId = row[1]
        concertSeatId = row[2]
        concertScheduleId = row[3]
        concertId = row[4]
        seatNumber = row[5]
        price = row[6]
        status = try row.stored(7, of: Self.databaseTableName)
        expiredAt = try row.requiredDate(8)
        reservationEndAt = try row.requiredDate(9)
        recorded = row[10]
        holdExtendedTo = row.storedDate(11)
        debitSent = row[12]
        paymentId = row[13]
        paidAt = row.storedDate(14)
        paidBalance = row[15]
        cancelReason = (row[16] as String?).flatMap(CancelReason.init(rawValue:))
        createdAt = try row.requiredDate(17)
        updatedAt = try row.requiredDate(18)
    }
}

/// What a saga does (DESIGN §4). One runs per reservation at a time.
enum SagaKind: String, Codable, Sendable, DatabaseValueConvertible {
    /// Asking concert for the hold; the handler that started it drives it.
    case reserve
    /// A hold whose request was interrupted: released and the row dropped, since its caller was told nothing.
    case abandon
    /// The payment: extend, debit, confirm; compensated by void and release.
    case pay
    /// Canceled by its owner: void (when money may have moved) and release.
    case cancel
    /// The hold lapsed: void (when a debit was ever sent) and release.
    case expire
}

/// The step a saga is on: written before the step's request is sent, so a restart sends it again.
enum SagaStep: String, Codable, Sendable, DatabaseValueConvertible, CaseIterable {
    case hold, extend, debit, confirm, void, release
}

/// A saga in progress (table `saga`): present from the first step until the last has succeeded.
struct SagaRecord: SnakeCaseRecord, PersistableRecord, Sendable {
    static let databaseTableName = "saga"

    var reservationId: Int64
    /// Tells one saga of a reservation from the next (a payment refused, then a cancel), so a
    /// request waits for its own.
    var runId: String
    var kind: SagaKind
    var step: SagaStep
    /// A payment's idempotency key: a request with the same key meanwhile is `request_in_progress`.
    var idempotencyKey: String?
    var startedAt: Date
    var updatedAt: Date
    /// The W3C trace context of the request that started the saga: every later step, a resumed
    /// one after a restart too, continues that trace. Nil for a saga no request started.
    var traceparent: String?

    /// The columns in the table's order, read by index like `ReservationRecord`'s.
    static let columns = "reservation_id, run_id, kind, step, idempotency_key, started_at, updated_at, traceparent"
    private static let selectByID = "SELECT \(columns) FROM saga WHERE reservation_id = ?"

    func encode(to container: inout PersistenceContainer) {
        container["reservation_id"] = reservationId
        container["run_id"] = runId
        container["kind"] = kind.rawValue
        container["step"] = step.rawValue
        container["idempotency_key"] = idempotencyKey
        container["started_at"] = StoredDate.text(startedAt)
        container["updated_at"] = StoredDate.text(updatedAt)
        container["traceparent"] = traceparent
    }

    static func find(_ reservationId: Int64, _ db: Database) throws -> SagaRecord? {
        try fetchOne(db.cachedStatement(sql: selectByID), arguments: [reservationId])
    }

    func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO saga (\(Self.columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").execute(arguments: [
            reservationId, runId, kind.rawValue, step.rawValue, idempotencyKey, StoredDate.text(startedAt), StoredDate.text(updatedAt),
            traceparent,
        ])
    }

    /// Moves the saga to another kind or step (all that changes once it is started).
    func updateRow(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE saga SET kind = ?, step = ?, updated_at = ? WHERE reservation_id = ?")
            .execute(arguments: [kind.rawValue, step.rawValue, StoredDate.text(updatedAt), reservationId])
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["reservation_id": reservationId])
    }

    func deleteRow(_ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM saga WHERE reservation_id = ?").execute(arguments: [reservationId])
    }
}

extension SagaRecord {
    /// Read by index, in the order of `columns`.
    init(row: Row) throws {
        reservationId = row[0]
        runId = row[1]
        kind = try row.stored(2, of: Self.databaseTableName)
        step = try row.stored(3, of: Self.databaseTableName)
        idempotencyKey = row[4]
        startedAt = try row.requiredDate(5)
        updatedAt = try row.requiredDate(6)
        traceparent = row[7]
    }
}

/// A saga row and its reservation as one transaction saw them: what a step of a drive starts from.
struct SagaRows: Sendable {
    let saga: SagaRecord
    let reservation: ReservationRecord
}

/// The reservation service's SQLite file (GRDB's `AppDatabase` style): the schema and one method
/// per intent, each one write transaction. A saga's next step is committed before it is sent, with
/// a line in `saga_log`; events go to the outbox in the same transaction as their change.
struct ReservationDatabase: Sendable {
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
                CREATE TABLE reservation (
                    id INTEGER PRIMARY KEY,
                    user_id INTEGER NOT NULL CHECK (user_id > 0),
                    concert_seat_id INTEGER NOT NULL,
                    concert_schedule_id INTEGER NOT NULL,
                    concert_id INTEGER NOT NULL,
                    seat_number INTEGER NOT NULL,
                    price INTEGER NOT NULL CHECK (price >= 0),
                    status TEXT NOT NULL CHECK (status IN ('reserving', 'reserved', 'canceled')),
                    expired_at DATETIME NOT NULL,
                    reservation_end_at DATETIME NOT NULL,
                    recorded BOOLEAN NOT NULL DEFAULT 0,
                    hold_extended_to DATETIME,
                    debit_sent BOOLEAN NOT NULL DEFAULT 0,
                    payment_id INTEGER,
                    paid_at DATETIME,
                    paid_balance INTEGER,
                    cancel_reason TEXT CHECK (cancel_reason IN ('canceled_by_user', 'hold_lapsed', 'payment_failed')),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    CHECK ((status = 'canceled') = (cancel_reason IS NOT NULL)),
                    CHECK (status != 'reserved' OR payment_id IS NOT NULL)
                );
                CREATE INDEX reservation_user ON reservation(user_id, id);
                CREATE INDEX reservation_holds ON reservation(expired_at) WHERE status = 'reserving';
                CREATE TABLE saga (
                    reservation_id INTEGER PRIMARY KEY REFERENCES reservation(id) ON DELETE CASCADE,
                    run_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('reserve', 'abandon', 'pay', 'cancel', 'expire')),
                    step TEXT NOT NULL CHECK (step IN ('hold', 'extend', 'debit', 'confirm', 'void', 'release')),
                    idempotency_key TEXT,
                    started_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE TABLE saga_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    reservation_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    step TEXT,
                    note TEXT NOT NULL,
                    created_at DATETIME NOT NULL
                );
                CREATE INDEX saga_log_reservation ON saga_log(reservation_id, id);
                -- The payer's queue token to expire after a payment: a step of its own, retried until done.
                CREATE TABLE token_expiry (
                    reservation_id INTEGER PRIMARY KEY,
                    user_id INTEGER NOT NULL,
                    issued_before DATETIME NOT NULL,
                    created_at DATETIME NOT NULL
                );
                """)
            try IdempotencyStore.createTable(db)
            try Outbox.createTables(db)
        }
        migrator.registerMigration("v2: saga trace") { db in
            try db.execute(sql: "ALTER TABLE saga ADD COLUMN traceparent TEXT")
        }
        return migrator
    }

    // MARK: Reads

    /// The user's reservation, or nil when there is none or it is someone else's.
    func reservation(id: Int64, userId: Int64) async throws -> ReservationRecord? {
        try await writer.read { db in try Self.owned(id, by: userId, db) }
    }

    func reservation(id: Int64) async throws -> ReservationRecord? {
        try await writer.read { db in try ReservationRecord.find(id, db) }
    }

    /// The user's reservations, newest first.
    func reservations(userId: Int64, limit: Int) async throws -> [ReservationRecord] {
        try await writer.read { db in
            try ReservationRecord.filter(Column("user_id") == userId && Column("recorded") == true)
                .order(Column("created_at").desc, Column("id").desc).limit(limit).fetchAll(db)
        }
    }

    func saga(of reservationId: Int64) async throws -> SagaRecord? {
        try await writer.read { db in try SagaRecord.find(reservationId, db) }
    }

    /// A saga and its reservation, in one read: what each step of a drive starts from.
    func sagaWithReservation(of reservationId: Int64) async throws -> SagaRows? {
        try await writer.read { db in
            guard let saga = try SagaRecord.find(reservationId, db), let record = try ReservationRecord.find(reservationId, db) else { return nil }
            return SagaRows(saga: saga, reservation: record)
        }
    }

    /// Every saga in progress, oldest first: what a starting service resumes.
    func sagas() async throws -> [SagaRecord] {
        try await writer.read { db in try SagaRecord.order(Column("started_at")).fetchAll(db) }
    }

    /// The saga's journal for one reservation, oldest first: `kind step: note`.
    func log(of reservationId: Int64) async throws -> [String] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT kind, step, note FROM saga_log WHERE reservation_id = ? ORDER BY id",
                             arguments: [reservationId]).map { row in
                "\(row["kind"] as String) \(row["step"] as String? ?? "-"): \(row["note"] as String)"
            }
        }
    }

    // MARK: Reserve

    enum ReserveStart: Sendable {
        /// The user already holds this seat: their reservation.
        case existing(ReservationRecord)
        /// A new row (not yet shown) and its saga at the `hold` step.
        case started(ReservationRecord)
        /// The user has this many live holds, the most allowed: nothing was written.
        case atHoldLimit(Int)
    }

    /// Starts a reservation of seat `seatId` for the user, unless they hold it already; refuses
    /// `hold_limit` when they have `maxHolds` live holds. The count and the insert are one
    /// transaction, so concurrent requests of one user cannot pass the limit together.
    ///
    /// The row is written before concert is asked, so a crash after the hold leaves a saga that
    /// releases it. Until the hold's answer names the seat (`recordHold`), the row knows only the
    /// seat's id: its schedule, concert, number and price read 0 and its window ends with the hold.
    /// Such a row is never shown, paid, canceled or reconciled (all of those read `recorded` rows).
    func beginReserve(userId: Int64, seatId: Int64, holdUntil: Date, maxHolds: Int, now: Date) async throws -> ReserveStart {
        let trace = TraceHeader.traceparent()
        return try await commits.write { db in
            let live = try ReservationRecord.fetchAll(db.cachedStatement(sql: """
                SELECT \(ReservationRecord.columns) FROM reservation WHERE user_id = ? AND status = 'reserving' AND expired_at > ?
                """), arguments: [userId, StoredDate.text(now)])
            if let mine = live.first(where: { $0.concertSeatId == seatId && $0.recorded }) { return .existing(mine) }
            guard live.count < maxHolds else { return .atHoldLimit(live.count) }
            var record = ReservationRecord(
                id: try Self.newId(db), userId: userId, concertSeatId: seatId, concertScheduleId: 0, concertId: 0,
                seatNumber: 0, price: 0, status: .reserving, expiredAt: holdUntil,
                reservationEndAt: holdUntil, recorded: false, holdExtendedTo: nil, debitSent: false,
                paymentId: nil, paidAt: nil, paidBalance: nil, cancelReason: nil, createdAt: now, updatedAt: now)
            try record.insertRow(db)
            try Self.startSaga(.reserve, at: .hold, for: try record.id.orInternal(), key: nil, trace: trace, now: now, db)
            return .started(record)
        }
    }

    /// A new reservation id: random below 2^53 (exact as a JSON number anywhere), never reused.
    /// Other services key holds and payments by it, so it must not repeat even if this file is
    /// restored from a backup while theirs are not, which a counter would (DESIGN §6).
    private static func newId(_ db: Database) throws -> Int64 {
        while true {
            let id = Int64.random(in: 1...(1 << 53 - 1))
            if try Int.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM reservation WHERE id = ?"), arguments: [id]) == nil { return id }
        }
    }

    /// The hold was granted: the reservation takes the seat's details from concert's answer and is
    /// recorded, shown from now on.
    func recordHold(id: Int64, seat: SeatDetail, heldUntil: Date, now: Date) async throws -> ReservationRecord {
        try await commits.write { db in
            guard var record = try ReservationRecord.find(id, db), record.concertSeatId == seat.id,
                  let saga = try SagaRecord.find(id, db), saga.kind == .reserve else {
                throw RemoteError.internalError
            }
            record.concertScheduleId = seat.scheduleId
            record.concertId = seat.concertId
            record.seatNumber = seat.number
            record.price = Int64(seat.price)
            record.reservationEndAt = seat.reservationEndAt
            record.recorded = true
            record.expiredAt = heldUntil
            record.updatedAt = now
            try record.updateRow(db)
            try Self.endSaga(saga, note: "hold granted until \(heldUntil)", now: now, db)
            return record
        }
    }

    /// The hold was refused: no reservation remains, so the user's list never shows the attempt.
    func dropRefusedHold(id: Int64, reason: String, now: Date) async throws {
        try await commits.write { db in
            try Self.log(id, .reserve, .hold, "refused: \(reason)", now: now, db)
            _ = try ReservationRecord.deleteOne(db, key: id)
        }
    }

    /// The hold's outcome is unknown (no answer, or the service stopped): release whatever was
    /// granted and drop the row, since the caller was told the attempt failed.
    func abandonHold(id: Int64, now: Date) async throws {
        try await commits.write { db in
            guard var saga = try SagaRecord.find(id, db), saga.kind == .reserve else { return }
            saga.kind = .abandon
            saga.step = .release
            saga.updatedAt = now
            try saga.updateRow(db)
            try Self.log(id, .abandon, .release, "hold outcome unknown; releasing", now: now, db)
        }
    }

    // MARK: Pay

    enum PayStart: Sendable {
        /// The same key paid already: its stored answer.
        case replay(PaymentView)
        /// The saga (this run) is started; drive it from these rows, as a read after the commit would find them.
        case started(SagaRows)
        /// The hold had lapsed: the reservation is now canceled for it (its compensation started), nothing charged.
        case lapsed
    }

    /// Checks a payment request and starts its saga in one transaction, so the hold sweeper, a
    /// cancel and another payment all see either no saga or this one.
    func beginPay(_ request: Pay, run runId: String, extension grace: TimeInterval, now: Date) async throws -> PayStart {
        let trace = TraceHeader.traceparent()
        return try await commits.write { db in
            let scope = Self.payScope(request.userId)
            let fingerprint = "\(request.reservationId)"
            switch try IdempotencyStore.lookup(PaymentView.self, in: db, scope: scope, key: request.idempotencyKey, fingerprint: fingerprint) {
            case .replay(let answer): return .replay(answer)
            case .reused: throw RemoteError.idempotencyKeyReused(request.idempotencyKey)
            case .absent: break
            }
            // The same key on another reservation whose payment is still running is a reuse too.
            if let other = try Row.fetchOne(db.cachedStatement(sql: """
                SELECT s.reservation_id FROM saga s JOIN reservation r ON r.id = s.reservation_id
                WHERE s.kind = 'pay' AND s.idempotency_key = ? AND r.user_id = ?
                """), arguments: [request.idempotencyKey, request.userId]) {
                if other["reservation_id"] as Int64 == request.reservationId {
                    throw RemoteError(ReservationAPI.Code.inProgress, "this payment is still being processed; ask again shortly with the same key")
                }
                throw RemoteError.idempotencyKeyReused(request.idempotencyKey)
            }
            guard var record = try Self.owned(request.reservationId, by: request.userId, db) else {
                throw Self.notFound(request.reservationId)
            }
            let id = try record.id.orInternal()
            if let saga = try SagaRecord.find(id, db), saga.kind == .pay {
                throw RemoteError(ReservationAPI.Code.inProgress, "a payment for reservation \(id) is in progress")
            }
            switch record.status {
            case .canceled:
                if record.cancelReason == .holdLapsed { throw Self.expired(id) }
                throw Self.notPayable(record)
            case .reserved:
                throw Self.notPayable(record)
            case .reserving:
                break
            }
            if record.expiredAt <= now {
                try Self.cancel(&record, reason: .holdLapsed, kind: .expire, note: "hold lapsed before payment", trace: trace, now: now, db)
                return .lapsed
            }
            // Once, and never past the longest hold concert grants.
            record.holdExtendedTo = record.holdExtendedTo
                ?? min(record.expiredAt.addingTimeInterval(grace), now.addingTimeInterval(ConcertAPI.Limits.longestHoldSeconds))
            // The run goes from extend to debit without another commit, so from here on a debit may
            // have been sent: any compensation voids first (a void of nothing only bars later debits).
            record.debitSent = true
            record.updatedAt = now
            try record.updateRow(db)
            try Self.startSaga(.pay, at: .extend, for: id, key: request.idempotencyKey, run: runId, trace: trace, now: now, db)
            // Read back by primary key in the same transaction: the stored text, not the in-memory dates.
            guard let saga = try SagaRecord.find(id, db), let stored = try ReservationRecord.find(id, db) else { throw RemoteError.internalError }
            return .started(SagaRows(saga: saga, reservation: stored))
        }
    }

    /// The stored answer to a payment made under `key` by the user, if any.
    func storedPayment(userId: Int64, key: String, reservationId: Int64) async throws -> PaymentView? {
        try await writer.read { db in
            if case .replay(let answer) = try IdempotencyStore.lookup(
                PaymentView.self, in: db, scope: Self.payScope(userId), key: key, fingerprint: "\(reservationId)") {
                return answer
            }
            return nil
        }
    }

    // MARK: Cancel

    enum CancelStart: Sendable {
        /// Canceled before: answered as it is.
        case alreadyCanceled(ReservationRecord)
        /// Canceled now; its compensation is started.
        case started
    }

    /// Cancels the user's reservation and starts its compensation: a held one is released; a paid
    /// one, while the window is open, is voided (refunded) and released.
    func beginCancel(_ request: ReservationRef, run runId: String, now: Date) async throws -> CancelStart {
        let trace = TraceHeader.traceparent()
        return try await commits.write { db in
            guard var record = try Self.owned(request.reservationId, by: request.userId, db) else {
                throw Self.notFound(request.reservationId)
            }
            let id = try record.id.orInternal()
            if record.status == .canceled { return .alreadyCanceled(record) }
            if let saga = try SagaRecord.find(id, db), saga.kind == .pay {
                throw RemoteError(ReservationAPI.Code.notCancelable, "a payment for reservation \(id) is in progress")
            }
            if record.status == .reserved && now >= record.reservationEndAt {
                throw RemoteError(ReservationAPI.Code.notCancelable, "the reservation window of reservation \(id) has closed")
            }
            let lapsed = record.status == .reserving && record.expiredAt <= now
            try Self.cancel(&record, reason: lapsed ? .holdLapsed : .canceledByUser, kind: .cancel, note: "canceled by its owner",
                            run: runId, trace: trace, now: now, db)
            return .started
        }
    }

    // MARK: Hold expiry

    /// Cancels up to `limit` recorded reservations whose hold has lapsed and that no saga is
    /// working on, and starts their compensation; answers their ids.
    func expireLapsedHolds(now: Date, limit: Int = 500) async throws -> [Int64] {
        try await commits.write { db in
            var lapsed = try ReservationRecord.fetchAll(db, sql: """
                SELECT \(ReservationRecord.columns) FROM reservation r
                WHERE r.status = 'reserving' AND r.expired_at <= ? AND r.recorded
                  AND NOT EXISTS (SELECT 1 FROM saga s WHERE s.reservation_id = r.id)
                ORDER BY r.expired_at LIMIT ?
                """, arguments: [StoredDate.text(now), limit])
            for index in lapsed.indices {
                try Self.cancel(&lapsed[index], reason: .holdLapsed, kind: .expire, note: "hold lapsed", now: now, db)
            }
            return lapsed.compactMap(\.id)
        }
    }

    // MARK: Reconciliation

    /// Every recorded reservation and the ids of those a saga is working on, in one read.
    func reconciliationView() async throws -> (reservations: [ReservationRecord], inSaga: Set<Int64>) {
        try await writer.read { db in
            let reservations = try ReservationRecord.filter(Column("recorded") == true).order(Column("id")).fetchAll(db)
            let inSaga = Set(try Int64.fetchAll(db, sql: "SELECT reservation_id FROM saga"))
            return (reservations, inSaga)
        }
    }

    /// The reservation as it is now, unless a saga is working on it (then it is the saga's to settle).
    func reservationWithoutSaga(id: Int64) async throws -> ReservationRecord? {
        try await writer.read { db in
            guard try SagaRecord.exists(db, key: id) == false else { return nil }
            return try ReservationRecord.filter(key: id).filter(Column("recorded") == true).fetchOne(db)
        }
    }

    /// Reconciliation found the services disagree about this reservation: cancel it for `reason`
    /// and compensate as any cancellation does, voiding first (a payment may exist that this file
    /// never heard of). False when it is canceled already or a saga took it meanwhile.
    func cancelToReconcile(id: Int64, reason: CancelReason, note: String, now: Date) async throws -> Bool {
        try await commits.write { db in
            guard try SagaRecord.exists(db, key: id) == false, var record = try ReservationRecord.find(id, db),
                  record.status != .canceled else { return false }
            record.debitSent = true
            try Self.cancel(&record, reason: reason, kind: .cancel, note: "reconcile: \(note)", now: now, db)
            return true
        }
    }

    // MARK: Saga transitions

    /// Moves a saga from `from` to `to`, applying `change` to its reservation, if it is still at
    /// `from` (so a step's outcome is recorded once). Answers whether it moved.
    @discardableResult
    func advance(_ id: Int64, from: SagaStep, to: SagaStep, note: String, now: Date,
                 _ change: @escaping @Sendable (inout ReservationRecord) -> Void = { _ in }) async throws -> Bool {
        try await commits.write { db in
            guard var saga = try SagaRecord.find(id, db), saga.step == from,
                  var record = try ReservationRecord.find(id, db) else { return false }
            change(&record)
            record.updatedAt = now
            try record.updateRow(db)
            saga.step = to
            saga.updatedAt = now
            try saga.updateRow(db)
            try Self.log(id, saga.kind, to, note, now: now, db)
            return true
        }
    }

    /// The payment cannot complete: cancel the reservation for `reason` and compensate (void, release).
    func compensate(_ id: Int64, from: SagaStep, reason: CancelReason, note: String, now: Date) async throws {
        try await commits.write { db in
            guard let saga = try SagaRecord.find(id, db), saga.step == from,
                  var record = try ReservationRecord.find(id, db) else { return }
            try Self.cancel(&record, reason: reason, kind: saga.kind, note: note, now: now, db)
        }
    }

    /// The seat is sold: the reservation is `reserved` with the debit's receipt, the answer stored
    /// under the payment's key, the event queued and the payer's token marked for expiry, all in one
    /// commit. `receipt` and `heldUntil` are what the run learned on the way; a saga stored at
    /// `confirm` (by an earlier version, which wrote each step) has its receipt on the row already.
    func finishPayment(_ id: Int64, at step: SagaStep, receipt: PaymentReceipt?, heldUntil: Date?, now: Date) async throws -> PaymentView? {
        try await commits.write { db in
            guard let saga = try SagaRecord.find(id, db), saga.kind == .pay, saga.step == step,
                  var record = try ReservationRecord.find(id, db), let key = saga.idempotencyKey else { return nil }
            if let receipt {
                record.paymentId = receipt.paymentId
                record.paidAt = receipt.paidAt
                record.paidBalance = receipt.balance
            }
            if let heldUntil { record.expiredAt = max(record.expiredAt, heldUntil) }
            record.status = .reserved
            record.updatedAt = now
            try record.updateRow(db)
            guard let answer = record.paymentView else { throw RemoteError.internalError }
            try IdempotencyStore.store(answer, in: db, scope: Self.payScope(record.userId), key: key,
                                       fingerprint: "\(id)", at: now)
            try Outbox.append(ReservationAPI.Event.reserved, record.event, in: db, at: now)
            // The token the payer held when paying; one issued later (they came back) is left alone.
            // A millisecond's margin, since services round times to the millisecond differently.
            try db.execute(sql: """
                INSERT OR IGNORE INTO token_expiry (reservation_id, user_id, issued_before, created_at) VALUES (?, ?, ?, ?)
                """, arguments: [id, record.userId, StoredDate.text(saga.startedAt.addingTimeInterval(0.001)), StoredDate.text(now)])
            let paid = receipt.map { "debited \($0.amount), payment \($0.paymentId); " } ?? ""
            try Self.endSaga(saga, note: "\(paid)seat sold; reservation reserved", now: now, db)
            return answer
        }
    }

    /// The saga is done (the last compensation succeeded, or the debit was refused for want of money).
    /// An abandoned hold's row goes with it.
    func endSaga(_ id: Int64, at step: SagaStep, note: String, now: Date,
                 _ change: (@Sendable (inout ReservationRecord) -> Void)? = nil) async throws {
        try await commits.write { db in
            guard let saga = try SagaRecord.find(id, db), saga.step == step else { return }
            if let change, var record = try ReservationRecord.find(id, db) {
                change(&record)
                record.updatedAt = now
                try record.updateRow(db)
            }
            try Self.endSaga(saga, note: note, now: now, db)
            if saga.kind == .abandon { _ = try ReservationRecord.deleteOne(db, key: id) }
        }
    }

    /// A note in the saga's journal (a retried step, a surprise), outside any transition.
    func note(_ id: Int64, kind: SagaKind, step: SagaStep, _ note: String, now: Date) async throws {
        try await commits.write { db in try Self.log(id, kind, step, note, now: now, db) }
    }

    // MARK: Payer token expiry

    struct TokenExpiry: Sendable, Equatable {
        let reservationId: Int64
        let userId: Int64
        let issuedBefore: Date
    }

    func pendingTokenExpiries(limit: Int = 100) async throws -> [TokenExpiry] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM token_expiry ORDER BY created_at LIMIT ?", arguments: [limit]).map { row in
                TokenExpiry(reservationId: row["reservation_id"], userId: row["user_id"], issuedBefore: row["issued_before"])
            }
        }
    }

    func tokenExpired(_ reservationId: Int64) async throws {
        try await commits.write { db in
            try db.execute(sql: "DELETE FROM token_expiry WHERE reservation_id = ?", arguments: [reservationId])
        }
    }

    // MARK: Inside a transaction

    static func payScope(_ userId: Int64) -> String { "pay:\(userId)" }

    static func notFound(_ id: Int64) -> RemoteError {
        RemoteError(ReservationAPI.Code.notFound, "no reservation \(id) of yours")
    }

    static func expired(_ id: Int64) -> RemoteError {
        RemoteError(ReservationAPI.Code.expired,
                    "the hold of reservation \(id) lapsed before it was paid; nothing is charged for it (a payment already taken is refunded)")
    }

    static func notPayable(_ record: ReservationRecord) -> RemoteError {
        let id = record.id ?? 0
        return switch (record.status, record.cancelReason) {
        case (.reserved, _): RemoteError(ReservationAPI.Code.notPayable, "reservation \(id) is already paid")
        case (_, .paymentFailed): RemoteError(ReservationAPI.Code.notPayable,
                                              "the payment for reservation \(id) could not be completed; anything taken is refunded")
        default: RemoteError(ReservationAPI.Code.notPayable, "reservation \(id) was canceled")
        }
    }

    private static func owned(_ id: Int64, by userId: Int64, _ db: Database) throws -> ReservationRecord? {
        try ReservationRecord.fetchOne(db.cachedStatement(sql: """
            SELECT \(ReservationRecord.columns) FROM reservation WHERE id = ? AND user_id = ? AND recorded
            """), arguments: [id, userId])
    }

    /// Cancels `record` for `reason` and puts its saga (new or the running one) on the first compensation.
    /// `trace` is the request's, when a request cancels it (a new saga continues that trace).
    private static func cancel(_ record: inout ReservationRecord, reason: CancelReason, kind: SagaKind, note: String,
                               run runId: String = UUID().uuidString, trace: String? = nil, now: Date, _ db: Database) throws {
        let id = try record.id.orInternal()
        record.status = .canceled
        record.cancelReason = reason
        record.updatedAt = now
        try record.updateRow(db)
        try Outbox.append(ReservationAPI.Event.canceled, record.event, in: db, at: now)
        // Money may have moved only if a debit was ever sent; then the payment is voided first.
        let first: SagaStep = record.debitSent ? .void : .release
        if var saga = try SagaRecord.find(id, db) {
            saga.step = first
            saga.updatedAt = now
            try saga.updateRow(db)
            try log(id, saga.kind, first, "\(note): canceled (\(reason.rawValue))", now: now, db)
        } else {
            try startSaga(kind, at: first, for: id, key: nil, run: runId, trace: trace, note: "\(note): canceled (\(reason.rawValue))", now: now, db)
        }
    }

    private static func startSaga(_ kind: SagaKind, at step: SagaStep, for id: Int64, key: String?, run runId: String = UUID().uuidString,
                                  trace: String?, note: String = "started", now: Date, _ db: Database) throws {
        try SagaRecord(reservationId: id, runId: runId, kind: kind, step: step, idempotencyKey: key, startedAt: now, updatedAt: now,
                       traceparent: trace).insertRow(db)
        try log(id, kind, step, note, now: now, db)
    }

    private static func endSaga(_ saga: SagaRecord, note: String, now: Date, _ db: Database) throws {
        try saga.deleteRow(db)
        try log(saga.reservationId, saga.kind, nil, "done: \(note)", now: now, db)
    }

    private static func log(_ id: Int64, _ kind: SagaKind, _ step: SagaStep?, _ note: String, now: Date, _ db: Database) throws {
        try db.cachedStatement(sql: "INSERT INTO saga_log (reservation_id, kind, step, note, created_at) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [id, kind.rawValue, step?.rawValue, note, StoredDate.text(now)])
    }
}

extension Optional {
    /// An id SQLite has just assigned is never nil; if it were, answer `internal`, not crash.
    func orInternal() throws -> Wrapped {
        guard let self else { throw RemoteError.internalError }
        return self
    }
}
