import Foundation
import Synchronization

/// What the clients were told, and so what the stack promised: the truth the SQLite files are
/// held to after the run. Only definite answers count; an outcome still unknown when the run
/// ends is asked again with the same key until it is learned.
final class Acknowledgements: Sendable {
    struct Payment: Sendable {
        let userId: Int
        let reservationId: Int
        let paymentId: Int
        let amount: Int
    }

    struct State: Sendable {
        /// Sum of acknowledged top-ups per user, and how many.
        var charged: [Int: (count: Int, amount: Int)] = [:]
        /// Payments acknowledged with 201, by reservation.
        var payments: [Int: Payment] = [:]
        /// Reservations their owner was told are canceled (200 `canceled`).
        var canceled: Set<Int> = []
        /// Holds acknowledged with 201, by reservation, with their owner.
        var holds: [Int: Int] = [:]
        /// Holds whose owner walked away, or paid too late and was told `reservation_expired`.
        var lapsed: Set<Int> = []
        /// Answers that were contract answers but wrong for what was asked (a 404 for one's own
        /// reservation, a 401 for a valid key): bugs, listed in words.
        var wrongAnswers: [String] = []
        /// Requests whose outcome was never learned, even after the stack settled.
        var unresolved: [String] = []
    }

    private let state = Mutex(State())

    var snapshot: State { state.withLock { $0 } }

    func charged(user: Int, amount: Int) {
        state.withLock { state in
            let before = state.charged[user] ?? (0, 0)
            state.charged[user] = (before.count + 1, before.amount + amount)
        }
    }

    func held(reservation: Int, by user: Int) { state.withLock { $0.holds[reservation] = user } }
    func paid(_ payment: Payment) { state.withLock { $0.payments[payment.reservationId] = payment } }
    func canceled(reservation: Int) { state.withLock { _ = $0.canceled.insert(reservation) } }
    func lapsed(reservation: Int) { state.withLock { _ = $0.lapsed.insert(reservation) } }
    func wrongAnswer(_ words: String) { state.withLock { $0.wrongAnswers.append(words) } }
    func unresolved(_ words: String) { state.withLock { $0.unresolved.append(words) } }
}
