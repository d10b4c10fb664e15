import Contracts
import Messaging

/// The messages the concert service answers, and where each is handled (`concert.ping` is built in).
enum ConcertHandlers {
    static func handlers(_ catalog: Catalog) -> RPCHandlers {
        var handlers = RPCHandlers()
        handlers.on(ConcertAPI.listConcerts) { _ in try await catalog.listConcerts() }
        handlers.on(ConcertAPI.schedules) { try await catalog.schedules($0) }
        handlers.onEncoded(ConcertAPI.seats, atOnce: { try catalog.seatsAtOnce($0) }) { try await catalog.seats($0) }
        handlers.on(ConcertAPI.seat) { try await catalog.seat($0) }
        handlers.on(ConcertAPI.claims) { try await catalog.claims($0) }
        handlers.on(ConcertAPI.hold) { try await catalog.hold($0) }
        handlers.on(ConcertAPI.extend) { try await catalog.extend($0) }
        handlers.on(ConcertAPI.confirm) { try await catalog.confirm($0) }
        handlers.on(ConcertAPI.release) { try await catalog.release($0) }
        handlers.on(ConcertAPI.createConcert) { try await catalog.createConcert($0) }
        return handlers
    }
}
