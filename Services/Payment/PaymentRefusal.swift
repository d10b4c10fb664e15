import Messaging

/// The payment service's business refusals, with the CONTRACT §3 codes the gateway maps to HTTP.
enum PaymentRefusal {
    static func invalidRequest(_ message: String) -> RemoteError { RemoteError("invalid_request", message) }

    static func invalidAmount(_ message: String) -> RemoteError { RemoteError("invalid_amount", message) }

    static func notFound(_ message: String) -> RemoteError { RemoteError("not_found", message) }

    static func noUser(_ userId: Int64) -> RemoteError { notFound("no user \(userId)") }

    /// The reservation was settled by `void`: it can never be paid.
    static func voided(_ reservationId: String) -> RemoteError {
        RemoteError("payment_voided", "reservation \(reservationId.prefix(64)) was canceled and can no longer be paid")
    }

    static let unauthorized = RemoteError("unauthorized", "unknown API key")

    /// Says by how much the balance falls short, so the client knows what to top up.
    static func insufficientBalance(balance: Int64, amount: Int64) -> RemoteError {
        RemoteError("insufficient_balance", "the balance of \(balance) is \(amount - balance) short of the amount \(amount)")
    }
}
