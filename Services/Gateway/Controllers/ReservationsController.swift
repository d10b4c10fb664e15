import Foundation
import Contracts
import Hummingbird
import Messaging

/// Holding a seat, the caller's reservations, canceling, and paying.
struct ReservationsController {
    let backend: Backend
    let auth: Authenticator
    let gate: QueueGate

    struct NewReservation: Decodable { let seatId: Int64 }

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.post("api/v1/reservations") { request, _ in
            let caller = try await auth.caller(of: request)
            try await gate.admit(request, user: caller)
            let body = try await request.decodeJSON(NewReservation.self)
            guard RequestLimits.ids.contains(body.seatId) else { throw Problem.invalidRequest("seatId must be a positive whole number") }
            let outcome = try await backend.callForBody(.reservation, ReservationAPI.reserve, Reserve(userId: caller.userId, seatId: body.seatId))
            return try EncodedJSON.createdOrFound(outcome, member: "reservation", of: ReservationAPI.reserve.name)
        }
        routes.get("api/v1/reservations") { request, _ in
            let caller = try await auth.caller(of: request)
            return EncodedJSON(try await backend.callForBody(.reservation, ReservationAPI.list, ReservationQuery(userId: caller.userId))).response(status: .ok)
        }
        routes.get("api/v1/reservations/:reservationId") { request, context in
            let caller = try await auth.caller(of: request)
            let ref = ReservationRef(userId: caller.userId, reservationId: try context.id("reservationId"))
            return EncodedJSON(try await backend.callForBody(.reservation, ReservationAPI.get, ref)).response(status: .ok)
        }
        routes.delete("api/v1/reservations/:reservationId") { request, context in
            let caller = try await auth.caller(of: request)
            let ref = ReservationRef(userId: caller.userId, reservationId: try context.id("reservationId"))
            return EncodedJSON(try await backend.callForBody(.reservation, ReservationAPI.cancel, ref)).response(status: .ok)
        }
        // No queue token: holding the seat is the proof of admission (CONTRACT §3).
        routes.post("api/v1/reservations/:reservationId/payment") { request, context in
            let caller = try await auth.caller(of: request)
            let key = try request.idempotencyKey()
            try request.refuseLargeBody()
            let pay = Pay(userId: caller.userId, reservationId: try context.id("reservationId"), idempotencyKey: key)
            return EncodedJSON(try await backend.callForBody(.reservation, ReservationAPI.pay, pay)).response(status: .created)
        }
    }
}
