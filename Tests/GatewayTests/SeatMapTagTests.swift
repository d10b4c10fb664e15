import Foundation
import Testing
@testable import GatewayService

@Suite("Seat map ETags: the version a client has, and concert's reply read as far as the route needs")
struct SeatMapTagTests {
    @Test("the version comes only from a tag of this schedule spelled as the gateway writes it")
    func versionFromTag() {
        #expect(SeatMapTag.etag(scheduleId: 5, version: 12) == #""5-12""#)
        #expect(SeatMapTag.version(in: #""5-12""#, scheduleId: 5) == 12)
        #expect(SeatMapTag.version(in: #"W/"5-12""#, scheduleId: 5) == 12)
        #expect(SeatMapTag.version(in: #""other", "6-3" , W/"5-0""#, scheduleId: 5) == 0)
        // Another schedule's tag, another spelling of the number, or no tag at all: nothing is known,
        // so concert answers the whole map and the ETag comparison decides, as without a version.
        for header in [#""6-12""#, #""5-012""#, #""5-+12""#, #""5--1""#, #""5-""#, #""5-12"#, "5-12", "*", "", #""15-12""#] {
            #expect(SeatMapTag.version(in: header, scheduleId: 5) == nil, "\(header)")
        }
    }

    @Test("concert's reply: its schedule, its version, and the seats' bytes or none")
    func reply() throws {
        let full = try SeatMapTag.Reply(Data(#"{"scheduleId":5,"seats":[{"id":1,"number":1,"price":9,"status":"available"}],"version":12}"#.utf8))
        #expect(full.scheduleId == 5 && full.version == 12)
        #expect(full.seats.map { String(decoding: $0, as: UTF8.self) } == #"[{"id":1,"number":1,"price":9,"status":"available"}]"#)
        let unchanged = try SeatMapTag.Reply(Data(#"{"scheduleId":5,"version":12}"#.utf8))
        #expect(unchanged.seats == nil && unchanged.version == 12)
        #expect(throws: (any Error).self) { try SeatMapTag.Reply(Data(#"{"scheduleId":5}"#.utf8)) }
        #expect(throws: (any Error).self) { try SeatMapTag.Reply(Data("[]".utf8)) }
    }
}
