import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit

/// A row of one of the service's tables: columns are the properties in snake_case (CONTRACT §4),
/// and `id` is the row id SQLite assigns on insert.
protocol PaymentRecord: SnakeCaseRecord, Sendable, MutablePersistableRecord {
    var id: Int64? { get set }
}

extension PaymentRecord {
    mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A user (ERD `user`). Only the SHA-256 of its API key is kept, never the key.
struct User: PaymentRecord {
    static let databaseTableName = "user"

    var id: Int64?
    var name: String
    var apiKeyHash: Data
    var createdAt: Date
    var updatedAt: Date
}

/// A user's wallet (ERD `wallet`): `amount` is the balance. Exactly one per user, made with it.
struct Wallet: PaymentRecord {
    static let databaseTableName = "wallet"

    var id: Int64?
    var userId: Int64
    var amount: Int64
    var createdAt: Date
    var updatedAt: Date

    /// The columns in the table's order, read by index (`init(row:)`), as every query selects them.
    static let columns = "id, user_id, amount, created_at, updated_at"

    /// The user's wallet, through a statement compiled once per connection.
    static func find(userId: Int64, _ db: Database) throws -> Wallet? {
        try fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM wallet WHERE user_id = ?"), arguments: [userId])
    }

    /// Writes the balance back: all that changes once the wallet is made.
    func saveBalance(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE wallet SET amount = ?, updated_at = ? WHERE id = ?")
            .execute(arguments: [amount, StoredDate.text(updatedAt), id])
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["id": id])
    }
}

extension Wallet {
    /// Column by column, as `ReservationRecord` reads: the debit reads it on every payment, and
    /// the Codable path with GRDB's date parsing cost several times more (docs/benchmarks.md).
    init(row: Row) throws {
        id = row[0]
        userId = row[1]
        amount = row[2]
        createdAt = try row.requiredDate(3)
        updatedAt = try row.requiredDate(4)
    }
}

/// The debit for one reservation (ERD `payment`), at most one per reservation ever;
/// `refunded_at` is set when it is given back.
struct Payment: PaymentRecord {
    static let databaseTableName = "payment"

    var id: Int64?
    var userId: Int64
    var reservationId: String
    var amount: Int64
    var createdAt: Date
    var updatedAt: Date
    var refundedAt: Date?

    /// The columns in the table's order, read by index (`init(row:)`).
    static let columns = "id, user_id, reservation_id, amount, created_at, updated_at, refunded_at"

    /// The reservation's payment, through a statement compiled once per connection.
    static func find(reservationId: String, _ db: Database) throws -> Payment? {
        try fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM payment WHERE reservation_id = ?"), arguments: [reservationId])
    }

    /// Inserts the row and takes the id SQLite gave it.
    mutating func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO payment (user_id, reservation_id, amount, created_at, updated_at, refunded_at) VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [userId, reservationId, amount, StoredDate.text(createdAt), StoredDate.text(updatedAt),
                                     refundedAt.map(StoredDate.text)])
        id = db.lastInsertedRowID
    }

    /// Writes the refund back: all that changes once the payment is made.
    func saveRefund(_ db: Database) throws {
        try db.cachedStatement(sql: "UPDATE payment SET refunded_at = ?, updated_at = ? WHERE id = ?")
            .execute(arguments: [refundedAt.map(StoredDate.text), StoredDate.text(updatedAt), id])
        try db.expectOneRowUpdated(in: Self.databaseTableName, key: ["id": id])
    }
}

extension Payment {
    init(row: Row) throws {
        id = row[0]
        userId = row[1]
        reservationId = row[2]
        amount = row[3]
        createdAt = try row.requiredDate(4)
        updatedAt = try row.requiredDate(5)
        refundedAt = row.storedDate(6)
    }
}

/// One money movement (the ledger): written in the same transaction as the balance it changes,
/// so that charges − payments + refunds = balance, row by row (CONTRACT §4).
struct WalletTransaction: PaymentRecord {
    static let databaseTableName = "wallet_transaction"

    enum Kind: String, Codable, Sendable {
        case charge, payment, refund
    }

    var id: Int64?
    var userId: Int64
    var kind: Kind
    /// Always positive; `kind` says which way the money went.
    var amount: Int64
    var balanceAfter: Int64
    var reservationId: String?
    var idempotencyKey: String?
    var createdAt: Date

    var entry: LedgerEntry {
        LedgerEntry(id: id ?? 0, kind: kind.rawValue, amount: amount, balanceAfter: balanceAfter,
                    reservationId: reservationId, createdAt: createdAt)
    }

    /// The columns in the table's order, read by index (`init(row:)`).
    static let columns = "id, user_id, kind, amount, balance_after, reservation_id, idempotency_key, created_at"

    /// The reservation's row of `kind` (one at most, by a unique index).
    static func find(_ kind: Kind, reservationId: String, _ db: Database) throws -> WalletTransaction? {
        try fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM wallet_transaction WHERE reservation_id = ? AND kind = ?"),
                     arguments: [reservationId, kind.rawValue])
    }

    mutating func insertRow(_ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, reservation_id, idempotency_key, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [userId, kind.rawValue, amount, balanceAfter, reservationId, idempotencyKey, StoredDate.text(createdAt)])
        id = db.lastInsertedRowID
    }
}

extension WalletTransaction {
    init(row: Row) throws {
        id = row[0]
        userId = row[1]
        kind = try row.stored(2, of: Self.databaseTableName)
        amount = row[3]
        balanceAfter = row[4]
        reservationId = row[5]
        idempotencyKey = row[6]
        createdAt = try row.requiredDate(7)
    }
}

/// The payment service's SQLite file (GRDB's `AppDatabase` style): the schema, and one method per
/// intent, each a single write transaction (`BEGIN IMMEDIATE`), so concurrent callers are
/// serialized by SQLite and every check and the change it guards commit together.
///
/// Business refusals are thrown as `RemoteError` from inside the transaction, which rolls it back:
/// a refusal changes nothing.
struct PaymentDatabase: Sendable {
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
            // CHECKs make the money rules hold even against a bug in this file.
            try db.execute(sql: """
                CREATE TABLE "user" (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL CHECK (length(name) > 0),
                    api_key_hash BLOB NOT NULL UNIQUE CHECK (length(api_key_hash) = 32),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE TABLE wallet (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL UNIQUE REFERENCES "user"(id),
                    amount INTEGER NOT NULL DEFAULT 0 CHECK (typeof(amount) = 'integer' AND amount >= 0),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL
                );
                CREATE TABLE payment (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL REFERENCES "user"(id),
                    reservation_id TEXT NOT NULL UNIQUE CHECK (length(reservation_id) > 0),
                    amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
                    created_at DATETIME NOT NULL,
                    updated_at DATETIME NOT NULL,
                    refunded_at DATETIME
                );
                CREATE INDEX payment_user_id ON payment(user_id);
                CREATE TABLE wallet_transaction (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    user_id INTEGER NOT NULL REFERENCES "user"(id),
                    kind TEXT NOT NULL CHECK (kind IN ('charge', 'payment', 'refund')),
                    amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
                    balance_after INTEGER NOT NULL CHECK (typeof(balance_after) = 'integer' AND balance_after >= 0),
                    reservation_id TEXT,
                    idempotency_key TEXT,
                    created_at DATETIME NOT NULL,
                    CHECK ((kind = 'charge') = (reservation_id IS NULL))
                );
                CREATE INDEX wallet_transaction_user_id ON wallet_transaction(user_id, id);
                -- One payment row and one refund row per reservation, at most.
                CREATE UNIQUE INDEX wallet_transaction_reservation
                    ON wallet_transaction(reservation_id, kind) WHERE reservation_id IS NOT NULL;
                """)
            try IdempotencyStore.createTable(db)
        }
        migrator.registerMigration("v2-payment-void") { db in
            // Reservations settled by `void`: no debit may ever be taken for them.
            try db.execute(sql: """
                CREATE TABLE payment_void (
                    reservation_id TEXT PRIMARY KEY CHECK (length(reservation_id) > 0),
                    created_at DATETIME NOT NULL
                )
                """)
        }
        return migrator
    }

    // MARK: Users

    /// Creates a user and its empty wallet together.
    func createUser(name: String, apiKeyHash: Data, at now: Date) async throws -> User {
        let now = now.wholeSeconds
        return try await commits.write { db in
            var user = User(id: nil, name: name, apiKeyHash: apiKeyHash, createdAt: now, updatedAt: now)
            try user.insert(db)
            var wallet = Wallet(id: nil, userId: try user.id.orInternalError(), amount: 0, createdAt: now, updatedAt: now)
            try wallet.insert(db)
            return user
        }
    }

    func user(id: Int64) async throws -> User? {
        try await writer.read { db in try User.fetchOne(db, key: id) }
    }

    func user(apiKeyHash: Data) async throws -> User? {
        try await writer.read { db in try User.filter(Column("api_key_hash") == apiKeyHash).fetchOne(db) }
    }

    // MARK: Wallet

    /// The balance, or nil when there is no such user.
    func balance(userId: Int64) async throws -> Int64? {
        try await writer.read { db in try Self.wallet(of: userId, db)?.amount }
    }

    /// Adds `amount` to the wallet once per (user, idempotency key). A replay answers the balance
    /// stored with the first charge and changes nothing; `applied` says whether this call charged.
    func charge(userId: Int64, amount: Int64, idempotencyKey: String, at now: Date) async throws -> (balance: Balance, applied: Bool) {
        let now = now.wholeSeconds
        return try await commits.write { db in
            let scope = "\(PaymentAPI.charge.name)/user:\(userId)"
            let fingerprint = try IdempotencyStore.fingerprint(["amount": amount])
            switch try IdempotencyStore.lookup(Balance.self, in: db, scope: scope, key: idempotencyKey, fingerprint: fingerprint) {
            case .replay(let answer): return (answer, false)
            case .reused: throw RemoteError.idempotencyKeyReused(idempotencyKey)
            case .absent: break
            }
            guard var wallet = try Self.wallet(of: userId, db) else { throw PaymentRefusal.noUser(userId) }
            let (sum, overflow) = wallet.amount.addingReportingOverflow(amount)
            guard !overflow, sum <= PaymentAPI.maxBalance else {
                throw PaymentRefusal.invalidAmount("a charge of \(amount) would take the balance of \(wallet.amount) over the limit of \(PaymentAPI.maxBalance)")
            }
            wallet.amount = sum
            try Self.record(.charge, amount: amount, in: &wallet, reservationId: nil, idempotencyKey: idempotencyKey, at: now, db)
            let answer = Balance(balance: sum)
            try IdempotencyStore.store(answer, in: db, scope: scope, key: idempotencyKey, fingerprint: fingerprint, at: now)
            return (answer, true)
        }
    }

    /// Takes `amount` from the user's wallet for a reservation, at most once per reservation ever:
    /// a repeat with the same user and amount answers the original receipt (even once refunded);
    /// one that differs is refused. Too small a balance refuses and changes nothing.
    func debit(userId: Int64, reservationId: String, amount: Int64, at now: Date) async throws -> (receipt: PaymentReceipt, applied: Bool) {
        let now = now.wholeSeconds
        return try await commits.write { db in
            if let existing = try Self.payment(for: reservationId, db) {
                guard existing.userId == userId, existing.amount == amount else {
                    throw RemoteError("idempotency_key_reused",
                                      "reservation \(reservationId.prefix(64)) was already paid by another user or for another amount")
                }
                return (try Self.receipt(for: existing, db), false)
            }
            if try Self.isVoided(reservationId, db) { throw PaymentRefusal.voided(reservationId) }
            guard var wallet = try Self.wallet(of: userId, db) else { throw PaymentRefusal.noUser(userId) }
            guard wallet.amount >= amount else { throw PaymentRefusal.insufficientBalance(balance: wallet.amount, amount: amount) }
            wallet.amount -= amount
            var payment = Payment(id: nil, userId: userId, reservationId: reservationId, amount: amount,
                                  createdAt: now, updatedAt: now, refundedAt: nil)
            try payment.insertRow(db)
            try Self.record(.payment, amount: amount, in: &wallet, reservationId: reservationId, idempotencyKey: nil, at: now, db)
            let receipt = PaymentReceipt(paymentId: try payment.id.orInternalError(), userId: userId, reservationId: reservationId,
                                         amount: amount, balance: wallet.amount, paidAt: now, refundedAt: nil)
            return (receipt, true)
        }
    }

    /// Gives a reservation's payment back, at most once; a repeat answers the first refund.
    ///
    /// A refund may take a balance past `PaymentAPI.maxBalance` (the owner topped up after paying):
    /// the cap limits charges, and a refund is money that was already in the wallet, which a saga's
    /// compensation must always be able to return.
    func refund(reservationId: String, at now: Date) async throws -> (receipt: RefundReceipt, applied: Bool) {
        let now = now.wholeSeconds
        return try await commits.write { db in
            guard let payment = try Self.payment(for: reservationId, db) else {
                throw PaymentRefusal.notFound("no payment for reservation \(reservationId.prefix(64))")
            }
            return try Self.refund(payment, at: now, db)
        }
    }

    /// Refunds the reservation's payment if there is one, and bars any debit for it from now on.
    /// `refundedNow` is true when this call made the refund.
    func void(reservationId: String, at now: Date) async throws -> (receipt: VoidReceipt, refundedNow: Bool) {
        let now = now.wholeSeconds
        return try await commits.write { db in
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO payment_void (reservation_id, created_at) VALUES (?, ?)")
                .execute(arguments: [reservationId, StoredDate.text(now)])
            guard let payment = try Self.payment(for: reservationId, db) else {
                return (VoidReceipt(reservationId: reservationId, refunded: false, amount: 0, balance: nil), false)
            }
            let (refund, refundedNow) = try Self.refund(payment, at: now, db)
            return (VoidReceipt(reservationId: reservationId, refunded: true, amount: refund.amount, balance: refund.balance), refundedNow)
        }
    }

    /// Gives `payment` back unless it already was; answers the refund, and whether this call made it.
    private static func refund(_ payment: Payment, at now: Date, _ db: Database) throws -> (receipt: RefundReceipt, applied: Bool) {
        var payment = payment
        let reservationId = payment.reservationId
        let paymentId = try payment.id.orInternalError()
        if let refundedAt = payment.refundedAt {
            let row = try ledgerRow(.refund, reservationId: reservationId, db)
            return (RefundReceipt(paymentId: paymentId, userId: payment.userId, reservationId: reservationId, amount: payment.amount,
                                  refunded: true, balance: row.balanceAfter, refundedAt: refundedAt), false)
        }
        guard var wallet = try wallet(of: payment.userId, db) else { throw RemoteError.internalError }
        let (sum, overflow) = wallet.amount.addingReportingOverflow(payment.amount)
        guard !overflow else { throw PaymentRefusal.invalidAmount("refunding \(payment.amount) would overflow the balance") }
        wallet.amount = sum
        payment.refundedAt = now
        payment.updatedAt = now
        try payment.saveRefund(db)
        try record(.refund, amount: payment.amount, in: &wallet, reservationId: reservationId, idempotencyKey: nil, at: now, db)
        return (RefundReceipt(paymentId: paymentId, userId: payment.userId, reservationId: reservationId, amount: payment.amount,
                              refunded: true, balance: sum, refundedAt: now), true)
    }

    /// A user's ledger, newest first, or nil when there is no such user.
    func transactions(userId: Int64, limit: Int, before: Int64?) async throws -> [LedgerEntry]? {
        try await writer.read { db in
            guard try Self.wallet(of: userId, db) != nil else { return nil }
            return try WalletTransaction.fetchAll(db.cachedStatement(sql: """
                SELECT \(WalletTransaction.columns) FROM wallet_transaction WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?
                """), arguments: [userId, before ?? Int64.max, limit]).map(\.entry)
        }
    }

    /// The payment for a reservation, or nil.
    func payment(reservationId: String) async throws -> PaymentReceipt? {
        try await writer.read { db in
            try Self.payment(for: reservationId, db).map { try Self.receipt(for: $0, db) }
        }
    }

    /// Payments by id after `after`, refunded ones included: what reconciliation compares.
    func payments(after: Int64, limit: Int) async throws -> [PaymentReceipt] {
        try await writer.read { db in
            try Payment.fetchAll(db.cachedStatement(sql: "SELECT \(Payment.columns) FROM payment WHERE id > ? ORDER BY id LIMIT ?"),
                                 arguments: [after, limit]).map { try Self.receipt(for: $0, db) }
        }
    }

    // MARK: Inside a transaction

    private static func wallet(of userId: Int64, _ db: Database) throws -> Wallet? {
        try Wallet.find(userId: userId, db)
    }

    private static func isVoided(_ reservationId: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM payment_void WHERE reservation_id = ?)"),
                          arguments: [reservationId]) ?? false
    }

    private static func payment(for reservationId: String, _ db: Database) throws -> Payment? {
        try Payment.find(reservationId: reservationId, db)
    }

    private static func ledgerRow(_ kind: WalletTransaction.Kind, reservationId: String, _ db: Database) throws -> WalletTransaction {
        guard let row = try WalletTransaction.find(kind, reservationId: reservationId, db) else { throw RemoteError.internalError }
        return row
    }

    /// The receipt the original debit answered: its balance is the ledger's balance after it.
    private static func receipt(for payment: Payment, _ db: Database) throws -> PaymentReceipt {
        let row = try ledgerRow(.payment, reservationId: payment.reservationId, db)
        return PaymentReceipt(paymentId: try payment.id.orInternalError(), userId: payment.userId, reservationId: payment.reservationId,
                              amount: payment.amount, balance: row.balanceAfter, paidAt: payment.createdAt, refundedAt: payment.refundedAt)
    }

    /// Saves the wallet's new balance and its ledger row: the one way money moves.
    private static func record(
        _ kind: WalletTransaction.Kind, amount: Int64, in wallet: inout Wallet,
        reservationId: String?, idempotencyKey: String?, at now: Date, _ db: Database
    ) throws {
        wallet.updatedAt = now
        try wallet.saveBalance(db)
        var row = WalletTransaction(id: nil, userId: wallet.userId, kind: kind, amount: amount, balanceAfter: wallet.amount,
                                    reservationId: reservationId, idempotencyKey: idempotencyKey, createdAt: now)
        try row.insertRow(db)
    }
}

extension Date {
    /// Times are kept to the second: what is stored reads back equal, and the wire shows seconds.
    var wholeSeconds: Date { Date(timeIntervalSince1970: timeIntervalSince1970.rounded(.down)) }
}

extension Optional {
    /// An id SQLite has just assigned is never nil; if it were, answer `internal`, not crash.
    func orInternalError() throws -> Wrapped {
        guard let self else { throw RemoteError.internalError }
        return self
    }
}
