import Foundation
import Messaging

/// The payment service's methods and events: users and API keys, wallets, payments (DESIGN §2).
///
/// Money is whole won in `Int64`. Every mutating method but `createUser` is keyed by an id the
/// caller chose (an idempotency key, a reservation id), so a caller may send it again after a lost
/// reply and learn the original outcome. Refusals (`RemoteError.code`): `invalid_request`,
/// `invalid_amount`, `not_found`, `unauthorized`, `insufficient_balance`, `idempotency_key_reused`,
/// `payment_voided`;
/// an ill-typed body gets `bad_request`.
package enum PaymentAPI {
    /// Creates a user and its empty wallet; the reply carries the API key, which is never stored
    /// and cannot be asked for again. Not idempotent: a lost reply means asking for a new user.
    package static let createUser = RPCMethod<CreateUser, NewUser>("payment.createUser", idempotent: false)
    /// Resolves an API key to its user, or `unauthorized`.
    package static let authenticate = RPCMethod<Authenticate, AuthenticatedUser>("payment.authenticate", idempotent: true)
    /// A user's public view, or `not_found`.
    package static let user = RPCMethod<UserRef, UserView>("payment.user", idempotent: true)
    /// A user's wallet balance, or `not_found`.
    package static let balance = RPCMethod<UserRef, Balance>("payment.balance", idempotent: true)
    /// Tops up a wallet, once per (user, idempotency key); a replay answers the balance right after the first.
    package static let charge = RPCMethod<Charge, Balance>("payment.charge", idempotent: true)
    /// Takes a reservation's price from the payer's wallet: at most one debit per reservation, ever.
    package static let debit = RPCMethod<Debit, PaymentReceipt>("payment.debit", idempotent: true)
    /// Gives a reservation's payment back to the wallet, at most once.
    package static let refund = RPCMethod<Refund, RefundReceipt>("payment.refund", idempotent: true)
    /// A user's ledger, newest first.
    package static let transactions = RPCMethod<TransactionsQuery, [LedgerEntry]>("payment.transactions", idempotent: true)
    /// Settles a canceled reservation for good: refunds its payment if there is one (at most once),
    /// and whether or not there is, refuses every later debit for it with `payment_voided`. A saga
    /// compensates with this rather than `refund`, so that a debit still on its way (a resent copy
    /// of a request answered long ago) can never take money after the compensation has run.
    package static let void = RPCMethod<Refund, VoidReceipt>("payment.void", idempotent: true)
    /// The payment for a reservation, or `not_found`: how a saga learns an outcome after a crash.
    package static let payment = RPCMethod<PaymentRef, PaymentReceipt>("payment.payment", idempotent: true)
    /// Every payment, refunded ones included, by payment id, a page at a time (`reservation.reconcile`).
    package static let payments = RPCMethod<PageQuery, [PaymentReceipt]>("payment.payments", idempotent: true)

    /// The most one charge may add (CONTRACT §3).
    package static let maxChargeAmount: Int64 = 10_000_000
    /// The most a wallet may hold after a charge (CONTRACT §3).
    package static let maxBalance: Int64 = 1_000_000_000_000
    /// The lengths of a user's name, in characters, after trimming whitespace (CONTRACT §3).
    package static let nameLengths = 1...50
    /// The lengths of a reservation id, in characters.
    package static let reservationIDLengths = 1...255
    /// The ledger's page size: default and most.
    package static let defaultTransactionLimit = 100
    package static let maxTransactionLimit = 1000

    /// Event types, published after the change commits. Correctness never depends on them arriving.
    package enum Event {
        /// A debit went through. Body: `PaymentEvent`.
        package static let completed = "payment.completed"
        /// A payment was given back. Body: `PaymentEvent`.
        package static let refunded = "payment.refunded"
    }
}

// MARK: Requests

/// `payment.createUser`: `name` is trimmed of whitespace and must then be 1–50 characters.
package struct CreateUser: Codable, Sendable, Equatable {
    package let name: String
    package init(name: String) { self.name = name }
}

/// `payment.authenticate`: the bearer API key exactly as the client sent it.
package struct Authenticate: Codable, Sendable, Equatable {
    package let apiKey: String
    package init(apiKey: String) { self.apiKey = apiKey }
}

/// `payment.user`, `payment.balance`.
package struct UserRef: Codable, Sendable, Equatable {
    package let userId: Int64
    package init(userId: Int64) { self.userId = userId }
}

/// `payment.charge`: `amount` 1…10,000,000 and the balance after it at most 1,000,000,000,000;
/// `idempotencyKey` 1–255 characters, scoped to the user.
package struct Charge: Codable, Sendable, Equatable {
    package let userId: Int64
    package let amount: Int64
    package let idempotencyKey: String
    package init(userId: Int64, amount: Int64, idempotencyKey: String) {
        self.userId = userId
        self.amount = amount
        self.idempotencyKey = idempotencyKey
    }
}

/// `payment.debit`: keyed by `reservationId` (the id the reservation service chose).
/// A repeat with the same user and amount answers the original receipt; one that differs is
/// `idempotency_key_reused`.
package struct Debit: Codable, Sendable, Equatable {
    package let userId: Int64
    package let reservationId: String
    package let amount: Int64
    package init(userId: Int64, reservationId: String, amount: Int64) {
        self.userId = userId
        self.reservationId = reservationId
        self.amount = amount
    }
}

/// `payment.refund`: refunds the reservation's payment at most once; a repeat answers the same.
package struct Refund: Codable, Sendable, Equatable {
    package let reservationId: String
    package init(reservationId: String) { self.reservationId = reservationId }
}

/// `payment.payment`.
package struct PaymentRef: Codable, Sendable, Equatable {
    package let reservationId: String
    package init(reservationId: String) { self.reservationId = reservationId }
}

/// `payment.transactions`: `limit` 1…1000 (default 100); `before` pages on: only entries with a smaller id.
package struct TransactionsQuery: Codable, Sendable, Equatable {
    package let userId: Int64
    package let limit: Int?
    package let before: Int64?
    package init(userId: Int64, limit: Int? = nil, before: Int64? = nil) {
        self.userId = userId
        self.limit = limit
        self.before = before
    }
}

// MARK: Replies

/// `payment.createUser`'s reply: the only time the API key is ever seen.
package struct NewUser: Codable, Sendable, Equatable {
    package let id: Int64
    package let name: String
    package let apiKey: String
    package init(id: Int64, name: String, apiKey: String) {
        self.id = id
        self.name = name
        self.apiKey = apiKey
    }
}

/// `payment.authenticate`'s reply.
package struct AuthenticatedUser: Codable, Sendable, Equatable {
    package let userId: Int64
    package let name: String
    package init(userId: Int64, name: String) {
        self.userId = userId
        self.name = name
    }
}

/// A user as others may see it (`GET /users/me`).
package struct UserView: Codable, Sendable, Equatable {
    package let id: Int64
    package let name: String
    package init(id: Int64, name: String) {
        self.id = id
        self.name = name
    }
}

/// A wallet's balance.
package struct Balance: Codable, Sendable, Equatable {
    package let balance: Int64
    package init(balance: Int64) { self.balance = balance }
}

/// A reservation's payment. `balance` is the wallet's balance right after the debit, so a repeat
/// answers exactly what the first call did; `refundedAt` is set once it has been refunded.
package struct PaymentReceipt: Codable, Sendable, Equatable {
    package let paymentId: Int64
    package let userId: Int64
    package let reservationId: String
    package let amount: Int64
    package let balance: Int64
    package let paidAt: Date
    package let refundedAt: Date?
    package init(paymentId: Int64, userId: Int64, reservationId: String, amount: Int64, balance: Int64, paidAt: Date, refundedAt: Date?) {
        self.paymentId = paymentId
        self.userId = userId
        self.reservationId = reservationId
        self.amount = amount
        self.balance = balance
        self.paidAt = paidAt
        self.refundedAt = refundedAt
    }

    // `refundedAt` is written as null rather than left out, so the body can be passed on as it is.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(paymentId, forKey: .paymentId)
        try container.encode(userId, forKey: .userId)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(amount, forKey: .amount)
        try container.encode(balance, forKey: .balance)
        try container.encode(paidAt, forKey: .paidAt)
        try container.encode(refundedAt, forKey: .refundedAt)
    }
}

/// `payment.refund`'s reply: `refunded` is true once the payment is refunded (by this call or an
/// earlier one), and `balance` is the wallet's balance right after the refund.
package struct RefundReceipt: Codable, Sendable, Equatable {
    package let paymentId: Int64
    package let userId: Int64
    package let reservationId: String
    package let amount: Int64
    package let refunded: Bool
    package let balance: Int64
    package let refundedAt: Date
    package init(paymentId: Int64, userId: Int64, reservationId: String, amount: Int64, refunded: Bool, balance: Int64, refundedAt: Date) {
        self.paymentId = paymentId
        self.userId = userId
        self.reservationId = reservationId
        self.amount = amount
        self.refunded = refunded
        self.balance = balance
        self.refundedAt = refundedAt
    }
}

/// `payment.void`'s reply: whether the reservation had a payment, now refunded (by this call or an
/// earlier one), with its amount and the wallet's balance right after the refund; 0 and nil when
/// there was no payment, and none can be made any more.
package struct VoidReceipt: Codable, Sendable, Equatable {
    package let reservationId: String
    package let refunded: Bool
    package let amount: Int64
    package let balance: Int64?
    package init(reservationId: String, refunded: Bool, amount: Int64, balance: Int64?) {
        self.reservationId = reservationId
        self.refunded = refunded
        self.amount = amount
        self.balance = balance
    }
}

/// One row of a user's ledger (`GET /wallet/transactions`). `kind` is `charge`, `payment` or
/// `refund`; `amount` is always positive, the kind says which way it went.
package struct LedgerEntry: Codable, Sendable, Equatable {
    package let id: Int64
    package let kind: String
    package let amount: Int64
    package let balanceAfter: Int64
    package let reservationId: String?
    package let createdAt: Date
    package init(id: Int64, kind: String, amount: Int64, balanceAfter: Int64, reservationId: String?, createdAt: Date) {
        self.id = id
        self.kind = kind
        self.amount = amount
        self.balanceAfter = balanceAfter
        self.reservationId = reservationId
        self.createdAt = createdAt
    }

    // `reservationId` is written as null for a charge (CONTRACT §3 lists it on every entry).
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(amount, forKey: .amount)
        try container.encode(balanceAfter, forKey: .balanceAfter)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(createdAt, forKey: .createdAt)
    }
}

// MARK: Events

/// The body of `payment.completed` and `payment.refunded`.
package struct PaymentEvent: Codable, Sendable, Equatable {
    package let paymentId: Int64
    package let userId: Int64
    package let reservationId: String
    package let amount: Int64
    package init(paymentId: Int64, userId: Int64, reservationId: String, amount: Int64) {
        self.paymentId = paymentId
        self.userId = userId
        self.reservationId = reservationId
        self.amount = amount
    }
}
