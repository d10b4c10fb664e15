import Contracts
import Foundation
import Hummingbird
import Messaging

/// The caller's wallet: balance, top-ups, the ledger.
struct WalletController {
    let backend: Backend
    let auth: Authenticator

    /// `{"amount"}` read as any JSON number (as a decimal, exactly), so a fraction or a huge number
    /// is `invalid_amount`, not a shape error.
    struct ChargeBody: Decodable { let amount: Decimal }

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.get("api/v1/wallet") { request, _ in
            let caller = try await auth.caller(of: request)
            return EncodedJSON(try await backend.callForBody(.payment, PaymentAPI.balance, UserRef(userId: caller.userId))).response(status: .ok)
        }
        routes.post("api/v1/wallet/charges") { request, _ in
            let caller = try await auth.caller(of: request)
            let key = try request.idempotencyKey()
            let body = try await request.decodeJSON(ChargeBody.self)
            guard let amount = Self.wholeWon(body.amount), (1...PaymentAPI.maxChargeAmount).contains(amount) else {
                throw Problem(.badRequest, code: "invalid_amount", detail: "amount must be a whole number of won from 1 to \(PaymentAPI.maxChargeAmount)")
            }
            let charge = Charge(userId: caller.userId, amount: amount, idempotencyKey: key)
            return EncodedJSON(try await backend.callForBody(.payment, PaymentAPI.charge, charge)).response(status: .ok)
        }
        routes.get("api/v1/wallet/transactions") { request, _ in
            let caller = try await auth.caller(of: request)
            let query = TransactionsQuery(userId: caller.userId, limit: PaymentAPI.maxTransactionLimit)
            let entries = try await backend.call(.payment, PaymentAPI.transactions, query)
            return try JSONBody(entries.map(LedgerRow.init)).response(status: .ok)
        }
    }
}

extension WalletController {
    /// The amount as whole won, or nil for a fraction or a number too large to be one.
    static func wholeWon(_ amount: Decimal) -> Int64? {
        guard !amount.isNaN, amount.magnitude <= Decimal(PaymentAPI.maxBalance) else { return nil }
        var value = amount
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 0, .plain)
        guard rounded == amount else { return nil }
        return Int64(truncating: NSDecimalNumber(decimal: rounded))
    }
}

/// A ledger entry as CONTRACT §3 shows it: the reservation id as the number the reservation has
/// (the payment service keeps it as the text key the saga chose).
struct LedgerRow: Encodable {
    let id: Int64
    let kind: String
    let amount: Int64
    let balanceAfter: Int64
    let reservationId: Int64?
    let createdAt: Date

    init(_ entry: LedgerEntry) {
        id = entry.id
        kind = entry.kind
        amount = entry.amount
        balanceAfter = entry.balanceAfter
        reservationId = entry.reservationId.flatMap { Int64($0) }
        createdAt = entry.createdAt
    }

    // `reservationId` is written as null for a charge.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(amount, forKey: .amount)
        try container.encode(balanceAfter, forKey: .balanceAfter)
        try container.encode(reservationId, forKey: .reservationId)
        try container.encode(createdAt, forKey: .createdAt)
    }

    enum CodingKeys: String, CodingKey { case id, kind, amount, balanceAfter, reservationId, createdAt }
}
