import Contracts
import Messaging

/// The messages the reservation service answers, and where each is handled (`reservation.ping` is built in).
enum ReservationHandlers {
    static func handlers(_ bookings: Bookings, reconciler: Reconciler) -> RPCHandlers {
        var handlers = RPCHandlers()
        handlers.on(ReservationAPI.reserve) { try await bookings.reserve($0) }
        handlers.on(ReservationAPI.get) { try await bookings.get($0) }
        handlers.on(ReservationAPI.list) { try await bookings.list($0) }
        handlers.on(ReservationAPI.cancel) { try await bookings.cancel($0) }
        handlers.on(ReservationAPI.pay) { try await bookings.pay($0) }
        handlers.on(ReservationAPI.events) { try await bookings.events($0) }
        handlers.on(ReservationAPI.reconcile) { try await reconciler.reconcile($0) }
        return handlers
    }
}
