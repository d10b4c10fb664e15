import Contracts
import Hummingbird
import Messaging

/// Concerts (public), their open dates and seat maps (gated by the waiting room).
struct CatalogController {
    let backend: Backend
    let auth: Authenticator
    let gate: QueueGate

    /// The seat list as CONTRACT §3 shows it; its version travels as the ETag.
    struct SeatList: Encodable {
        let scheduleId: Int64
        let seats: [SeatView]
    }

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.get("api/v1/concerts") { _, _ in
            try JSONBody(try await backend.call(.concert, ConcertAPI.listConcerts, Empty())).response(status: .ok)
        }
        routes.get("api/v1/concerts/:concertId/schedules") { request, context in
            let caller = try await auth.caller(of: request)
            try await gate.admit(request, user: caller)
            let concertId = try context.id("concertId")
            return try JSONBody(try await backend.call(.concert, ConcertAPI.schedules, ConcertRef(concertId: concertId))).response(status: .ok)
        }
        routes.get("api/v1/schedules/:scheduleId/seats") { request, context in
            let caller = try await auth.caller(of: request)
            try await gate.admit(request, user: caller)
            let scheduleId = try context.id("scheduleId")
            let map = try await backend.call(.concert, ConcertAPI.seats, ScheduleRef(scheduleId: scheduleId))
            let etag = "\"\(map.scheduleId)-\(map.version)\""
            if let match = request.headers[.ifNoneMatch], ETag.matches(match, etag) {
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            return try JSONBody(SeatList(scheduleId: map.scheduleId, seats: map.seats)).response(status: .ok, headers: [.eTag: etag])
        }
    }
}
