import Contracts
import Messaging

/// Which messages the payment service answers, and the function that answers each.
enum PaymentHandlers {
    static func handlers(_ cashier: Cashier) -> RPCHandlers {
        var handlers = RPCHandlers()
        handlers.on(PaymentAPI.createUser) { try await cashier.createUser($0) }
        handlers.on(PaymentAPI.authenticate) { try await cashier.authenticate($0) }
        handlers.on(PaymentAPI.user) { try await cashier.user($0) }
        handlers.on(PaymentAPI.balance) { try await cashier.balance($0) }
        handlers.on(PaymentAPI.charge) { try await cashier.charge($0) }
        handlers.on(PaymentAPI.debit) { try await cashier.debit($0) }
        handlers.on(PaymentAPI.refund) { try await cashier.refund($0) }
        handlers.on(PaymentAPI.void) { try await cashier.void($0) }
        handlers.on(PaymentAPI.transactions) { try await cashier.transactions($0) }
        handlers.on(PaymentAPI.payments) { try await cashier.payments($0) }
        handlers.on(PaymentAPI.payment) { try await cashier.payment($0) }
        return handlers
    }
}
