import Contracts
import Foundation
import Messaging
import ServiceKit

/// The payment service's rules over `PaymentDatabase`: it validates every request (no input can
/// crash it), issues and hashes API keys, reads the clock, and publishes events after commit.
struct Cashier: Sendable {
    /// Publishes one event; called only after its change has committed, never for a replay.
    typealias Publish = @Sendable (_ type: String, _ event: PaymentEvent) -> Void

    let database: PaymentDatabase
    let clock: any WallClock
    let publish: Publish

    init(database: PaymentDatabase, clock: any WallClock, publish: @escaping Publish) {
        self.database = database
        self.clock = clock
        self.publish = publish
    }

    // MARK: Users

    /// Creates a user with its wallet and returns its API key, which is seen only here.
    func createUser(_ request: CreateUser) async throws -> NewUser {
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard PaymentAPI.nameLengths.contains(name.count) else {
            throw PaymentRefusal.invalidRequest("name must be \(PaymentAPI.nameLengths.lowerBound)–\(PaymentAPI.nameLengths.upperBound) characters after trimming whitespace")
        }
        guard !Self.hasControlCharacters(name) else {
            throw PaymentRefusal.invalidRequest("name must not contain control characters")
        }
        let apiKey = APIKey.generate()
        let user = try await database.createUser(name: name, apiKeyHash: APIKey.hash(apiKey), at: clock.now())
        return NewUser(id: try user.id.orInternalError(), name: user.name, apiKey: apiKey)
    }

    /// Resolves an API key. Every plausible key costs the same, one hash and one indexed lookup,
    /// whatever its form; the hash, not the key, is compared, so timing reveals nothing of a key.
    func authenticate(_ request: Authenticate) async throws -> AuthenticatedUser {
        guard request.apiKey.utf8.count <= APIKey.maxLength else { throw PaymentRefusal.unauthorized }
        guard let user = try await database.user(apiKeyHash: APIKey.hash(request.apiKey)), let id = user.id else {
            throw PaymentRefusal.unauthorized
        }
        return AuthenticatedUser(userId: id, name: user.name)
    }

    func user(_ request: UserRef) async throws -> UserView {
        guard let user = try await database.user(id: request.userId), let id = user.id else { throw PaymentRefusal.noUser(request.userId) }
        return UserView(id: id, name: user.name)
    }

    // MARK: Wallet

    func balance(_ request: UserRef) async throws -> Balance {
        guard let balance = try await database.balance(userId: request.userId) else { throw PaymentRefusal.noUser(request.userId) }
        return Balance(balance: balance)
    }

    /// Tops up a wallet, once per idempotency key of the user.
    func charge(_ request: Charge) async throws -> Balance {
        try Self.validate(idempotencyKey: request.idempotencyKey)
        guard (1...PaymentAPI.maxChargeAmount).contains(request.amount) else {
            throw PaymentRefusal.invalidAmount("a charge must be a whole number from 1 to \(PaymentAPI.maxChargeAmount)")
        }
        return try await database.charge(userId: request.userId, amount: request.amount,
                                         idempotencyKey: request.idempotencyKey, at: clock.now()).balance
    }

    /// Pays for a reservation, at most once per reservation.
    func debit(_ request: Debit) async throws -> PaymentReceipt {
        try Self.validate(reservationId: request.reservationId)
        // No wallet can hold more than the cap, so a larger amount could never be paid.
        guard (1...PaymentAPI.maxBalance).contains(request.amount) else {
            throw PaymentRefusal.invalidAmount("a payment must be a whole number from 1 to \(PaymentAPI.maxBalance)")
        }
        let (receipt, applied) = try await database.debit(userId: request.userId, reservationId: request.reservationId,
                                                          amount: request.amount, at: clock.now())
        if applied { publish(PaymentAPI.Event.completed, Self.event(receipt.paymentId, receipt.userId, receipt.reservationId, receipt.amount)) }
        return receipt
    }

    /// Gives a reservation's payment back, at most once.
    func refund(_ request: Refund) async throws -> RefundReceipt {
        try Self.validate(reservationId: request.reservationId)
        let (receipt, applied) = try await database.refund(reservationId: request.reservationId, at: clock.now())
        if applied { publish(PaymentAPI.Event.refunded, Self.event(receipt.paymentId, receipt.userId, receipt.reservationId, receipt.amount)) }
        return receipt
    }

    /// Refunds a reservation's payment if any, and bars every later debit for it.
    func void(_ request: Refund) async throws -> VoidReceipt {
        try Self.validate(reservationId: request.reservationId)
        let (receipt, refundedNow) = try await database.void(reservationId: request.reservationId, at: clock.now())
        if refundedNow, let payment = try await database.payment(reservationId: request.reservationId) {
            publish(PaymentAPI.Event.refunded, Self.event(payment.paymentId, payment.userId, payment.reservationId, payment.amount))
        }
        return receipt
    }

    func transactions(_ request: TransactionsQuery) async throws -> [LedgerEntry] {
        let limit = request.limit ?? PaymentAPI.defaultTransactionLimit
        guard (1...PaymentAPI.maxTransactionLimit).contains(limit) else {
            throw PaymentRefusal.invalidRequest("limit must be from 1 to \(PaymentAPI.maxTransactionLimit)")
        }
        guard let entries = try await database.transactions(userId: request.userId, limit: limit, before: request.before) else {
            throw PaymentRefusal.noUser(request.userId)
        }
        return entries
    }

    func payment(_ request: PaymentRef) async throws -> PaymentReceipt {
        try Self.validate(reservationId: request.reservationId)
        guard let receipt = try await database.payment(reservationId: request.reservationId) else {
            throw PaymentRefusal.notFound("no payment for reservation \(request.reservationId)")
        }
        return receipt
    }

    /// `payment.payments`: every payment, a page at a time.
    func payments(_ request: PageQuery) async throws -> [PaymentReceipt] {
        let limit = request.limit ?? PageQuery.defaultLimit
        guard PageQuery.limits.contains(limit) else {
            throw PaymentRefusal.invalidRequest("limit must be from 1 to \(PageQuery.limits.upperBound)")
        }
        return try await database.payments(after: request.after ?? 0, limit: limit)
    }

    // MARK: Validation

    private static func validate(idempotencyKey: String) throws {
        guard IdempotencyStore.isValidKey(idempotencyKey) else {
            throw PaymentRefusal.invalidRequest("idempotencyKey must be \(IdempotencyStore.keyLengths.lowerBound)–\(IdempotencyStore.keyLengths.upperBound) characters")
        }
    }

    private static func validate(reservationId: String) throws {
        let lengths = PaymentAPI.reservationIDLengths
        guard reservationId.utf8.count <= lengths.upperBound * 4, lengths.contains(reservationId.count),
              !hasControlCharacters(reservationId) else {
            throw PaymentRefusal.invalidRequest("reservationId must be \(lengths.lowerBound)–\(lengths.upperBound) characters, none a control character")
        }
    }

    /// SQLite's `length()` counts only up to a NUL, so text that starts with one fails the tables'
    /// `length(…) > 0` CHECKs (an internal error, not a refusal); no name or key has control characters.
    private static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    private static func event(_ paymentId: Int64, _ userId: Int64, _ reservationId: String, _ amount: Int64) -> PaymentEvent {
        PaymentEvent(paymentId: paymentId, userId: userId, reservationId: reservationId, amount: amount)
    }
}
