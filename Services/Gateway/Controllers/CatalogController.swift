import Foundation
import Contracts
import Hummingbird
import Messaging

/// Concerts (public), their open dates and seat maps (gated by the waiting room).
struct CatalogController {
    let backend: Backend
    let auth: Authenticator
    let gate: QueueGate

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.get("api/v1/concerts") { _, _ in
            EncodedJSON(try await backend.callForBody(.concert, ConcertAPI.listConcerts, Empty())).response(status: .ok)
        }
        routes.get("api/v1/concerts/:concertId/schedules") { request, context in
            let caller = try await auth.caller(of: request)
            try await gate.admit(request, user: caller)
            let concertId = try context.id("concertId")
            return EncodedJSON(try await backend.callForBody(.concert, ConcertAPI.schedules, ConcertRef(concertId: concertId))).response(status: .ok)
        }
        routes.get("api/v1/schedules/:scheduleId/seats") { request, context in
            let caller = try await auth.caller(of: request)
            try await gate.admit(request, user: caller)
            let scheduleId = try context.id("scheduleId")
            let ifNoneMatch = request.headers[.ifNoneMatch]
            // The version the client has, from its ETag: concert then answers "unchanged" without
            // reading a seat, and otherwise the seats as it encoded them, passed on as they are.
            let known = ifNoneMatch.flatMap { SeatMapTag.version(in: $0, scheduleId: scheduleId) }
            let map = try SeatMapTag.Reply(try await backend.callForBody(.concert, ConcertAPI.seats,
                                                                           ScheduleRef(scheduleId: scheduleId, knownVersion: known)))
            let etag = SeatMapTag.etag(scheduleId: map.scheduleId, version: map.version)
            if let ifNoneMatch, ETag.matches(ifNoneMatch, etag) {
                return Response(status: .notModified, headers: [.eTag: etag])
            }
            guard let seats = map.seats else { throw SeatMapTag.malformed("no seats for a version the client does not have") }
            // CONTRACT §3's seat list, `{scheduleId, seats}`, with concert's bytes for the seats.
            var body = Data("{\"scheduleId\":\(map.scheduleId),\"seats\":".utf8)
            body.append(seats)
            body.append(UInt8(ascii: "}"))
            return Response(status: .ok, headers: [.eTag: etag, .contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}

/// A seat map's ETag, `"<scheduleId>-<version>"`, and concert's `concert.seats` reply read only
/// as far as the route needs.
enum SeatMapTag {
    static func etag(scheduleId: Int64, version: Int64) -> String { "\"\(scheduleId)-\(version)\"" }

    /// The version an `If-None-Match` value names for this schedule (the first, strong or weak).
    /// Only a tag spelled exactly as `etag` writes it counts (no sign, no leading zero): concert
    /// leaves the seats out for this version, so the tag must then match the answer's ETag.
    static func version(in header: String, scheduleId: Int64) -> Int64? {
        for candidate in header.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            let prefix = "\"\(scheduleId)-"
            guard tag.hasPrefix(prefix), tag.hasSuffix("\""), tag.count > prefix.count + 1,
                  let version = Int64(tag.dropFirst(prefix.count).dropLast()), version >= 0,
                  etag(scheduleId: scheduleId, version: version) == tag else { continue }
            return version
        }
        return nil
    }

    /// `{scheduleId, version, seats?}`, the seats left as bytes.
    struct Reply {
        let scheduleId: Int64
        let version: Int64
        let seats: Data?

        init(_ body: Data) throws {
            guard let fields = JSONFields.ranges(in: body),
                  let scheduleId = JSONFields.integer("scheduleId", in: body, ranges: fields),
                  let version = JSONFields.integer("version", in: body, ranges: fields) else {
                throw SeatMapTag.malformed("not a seat map")
            }
            self.scheduleId = scheduleId
            self.version = version
            let seats = JSONFields.value("seats", in: body, ranges: fields)
            self.seats = seats.flatMap { $0.first == UInt8(ascii: "[") ? $0 : nil }
        }
    }

    static func malformed(_ reason: String) -> MessagingError {
        .malformedReply(method: ConcertAPI.seats.name, reason: reason)
    }
}
