import Foundation
import Testing
@testable import Messaging

@Suite("Envelope codec (CONTRACT §5)")
struct WireCodecTests {
    struct Seat: Codable, Equatable, Sendable {
        let id: Int
        let note: String
    }

    private func object(_ frame: Data) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: frame) as? [String: Any])
    }

    @Test("a request round-trips: head and typed body", arguments: ["r-1", "id with \"quotes\" and \\ and 한글", ""])
    func requestRoundTrip(id: String) throws {
        let body = Seat(id: 7, note: "line\nbreak / slash")
        let frame = try WireCodec.encodeRequest(id: id, method: "concert.hold", body: body)
        let json = try object(frame)
        #expect(json["v"] as? Int == 1)
        #expect(json["id"] as? String == id)
        #expect(json["method"] as? String == "concert.hold")
        #expect(try WireCodec.decodeRequestHead(frame) == RequestHead(v: 1, id: id, method: "concert.hold"))
        #expect(try WireCodec.decodeBody(Seat.self, from: frame) == body)
    }

    @Test("an ok reply and an error reply round-trip")
    func replyRoundTrip() throws {
        let ok = WireCodec.encodeReply(id: "a", body: try WireCodec.encoder.encode(Seat(id: 1, note: "x")))
        let okHead = try WireCodec.decodeReplyHead(ok)
        #expect(okHead.ok && okHead.id == "a" && okHead.error == nil)
        #expect(try WireCodec.decodeBody(Seat.self, from: ok) == Seat(id: 1, note: "x"))

        let refusal = RemoteError("seat_unavailable", "seat 7 is held")
        let failed = WireCodec.encodeErrorReply(id: "b", error: refusal)
        let failedHead = try WireCodec.decodeReplyHead(failed)
        #expect(!failedHead.ok && failedHead.id == "b" && failedHead.error == refusal)
        #expect((try object(failed))["body"] == nil)
    }

    @Test("a frame this project wrote is routed on its first bytes, with the head a full parse reads",
          arguments: ["r-1", "한글-id", "", "id with \"quotes\" and \\"])
    func scannedHeads(id: String) throws {
        let request = try WireCodec.encodeRequest(id: id, method: "concert.hold", body: Seat(id: 7, note: "n"))
        let reply = WireCodec.encodeReply(id: id, body: try WireCodec.encoder.encode(Seat(id: 7, note: "n")))
        if id.contains("\\") || id.contains("\"") {
            // An escape is left to the full parse.
            #expect(WireCodec.scanRequestHead(request) == nil)
            #expect(WireCodec.scanSuccessfulReplyID(reply) == nil)
        } else {
            let fullHead = try WireCodec.decodeRequestHead(request)
            #expect(WireCodec.scanRequestHead(request) == fullHead)
            #expect(WireCodec.scanSuccessfulReplyID(reply) == id)
        }
        let head = try WireCodec.decodeRequestHead(request)
        #expect(try WireCodec.decodeRequest(Seat.self, from: request, routedBy: head) == Seat(id: 7, note: "n"))
    }

    @Test("other shapes are parsed in full: keys in another order, another version, an error reply, a cut frame", arguments: [
        #"{"id":"x","v":1,"method":"m","body":{}}"#, #"{"v":2,"id":"x","method":"m","body":{}}"#,
        #"{"v":1,"id":"x","method":"m"}"#, #"{"v":1,"id":"x"#, #"{"v":1,"id":"x\u0041","method":"m","body":{}}"#,
        #"{"v":1,"id":"x","ok":false,"error":{"code":"busy","message":"m"}}"#, #"{"v":1,"id":"x","ok":true}"#,
    ])
    func unscannedShapes(text: String) {
        #expect(WireCodec.scanRequestHead(Data(text.utf8)) == nil)
        #expect(WireCodec.scanSuccessfulReplyID(Data(text.utf8)) == nil)
    }

    @Test("a frame naming a key twice is read by its first, by the scan and the full parse alike; a body cut short is refused")
    func requestReadWhole() throws {
        let twice = Data(#"{"v":1,"id":"a","method":"m","body":{"id":1,"note":"n"},"method":"other","v":2}"#.utf8)
        let head = try #require(WireCodec.scanRequestHead(twice))
        #expect(head == RequestHead(v: 1, id: "a", method: "m"))
        #expect(try WireCodec.decodeRequestHead(twice) == head)
        #expect(try WireCodec.decodeRequest(Seat.self, from: twice, routedBy: head) == Seat(id: 1, note: "n"))
        #expect(throws: RemoteError.self) { try WireCodec.decodeRequest(Seat.self, from: twice, routedBy: RequestHead(v: 1, id: "a", method: "other")) }
        let cut = Data(#"{"v":1,"id":"a","method":"m","body":{"id":1,"#.utf8)
        let cutHead = try #require(WireCodec.scanRequestHead(cut))
        #expect(throws: DecodingError.self) { try WireCodec.decodeRequest(Seat.self, from: cut, routedBy: cutHead) }
    }

    @Test("a reply read once: its body, or its error")
    func replyReadOnce() throws {
        let ok = WireCodec.encodeReply(id: "a", body: try WireCodec.encoder.encode(Seat(id: 1, note: "x")))
        let read = try WireCodec.decodeReply(Seat.self, from: ok)
        #expect(read.v == 1)
        #expect(try read.outcome.get() == Seat(id: 1, note: "x"))
        let refusal = RemoteError("seat_unavailable", "seat 7 is held")
        let failed = try WireCodec.decodeReply(Seat.self, from: WireCodec.encodeErrorReply(id: "b", error: refusal))
        #expect(throws: refusal) { try failed.outcome.get() }
    }

    @Test("a missing or null body reads as an empty object")
    func missingBody() throws {
        #expect(try WireCodec.decodeBody(Empty.self, from: Data(#"{"v":1,"id":"x","method":"m"}"#.utf8)) == Empty())
        #expect(try WireCodec.decodeBody(Empty.self, from: Data(#"{"v":1,"id":"x","method":"m","body":null}"#.utf8)) == Empty())
    }

    @Test("a method without parameters still wants an object for its body", arguments: [#""x""#, "1", "[]", "true"])
    func emptyBodyOfTheWrongShape(body: String) throws {
        #expect(throws: DecodingError.self) { try WireCodec.decodeBody(Empty.self, from: Data(#"{"v":1,"id":"x","method":"m","body":\#(body)}"#.utf8)) }
        #expect(try WireCodec.decodeBody(Empty.self, from: Data(#"{"v":1,"id":"x","method":"m","body":{"extra":1}}"#.utf8)) == Empty())
    }

    @Test("malformed frames are refused with a reason, never a crash", arguments: [
        "", "not json", "[1,2]", "{}", #"{"v":1,"id":"x"}"#, #"{"v":"1","id":"x","method":"m"}"#,
        #"{"v":1,"id":7,"method":"m"}"#, #"{"v":1,"id":"x","method":null}"#, "{\"v\":1,\"id\":\"x\",\"method\":\"m\"",
        "\u{0}\u{1}\u{2}", #"{"v":1e400,"id":"x","method":"m"}"#,
    ])
    func malformedFrames(text: String) {
        let error = #expect(throws: FrameError.self) { try WireCodec.decodeRequestHead(Data(text.utf8)) }
        if case .malformed(let reason)? = error { #expect(!reason.isEmpty) } else { Issue.record("expected .malformed, got \(String(describing: error))") }
    }

    @Test("a frame over the size limit is refused before it is parsed")
    func oversizedFrame() {
        let huge = Data(repeating: UInt8(ascii: " "), count: WireCodec.maxFrameBytes + 1)
        #expect(throws: FrameError.tooLarge(bytes: WireCodec.maxFrameBytes + 1, limit: WireCodec.maxFrameBytes)) {
            try WireCodec.decodeRequestHead(huge)
        }
    }

    @Test("a body of the wrong shape is a decoding error naming the field")
    func wrongBody() throws {
        let frame = Data(#"{"v":1,"id":"x","method":"m","body":{"id":"seven","note":"n"}}"#.utf8)
        do {
            _ = try WireCodec.decodeBody(Seat.self, from: frame)
            Issue.record("decoded a string as an Int")
        } catch let error as DecodingError {
            #expect(WireCodec.describe(error).contains("body.id"))
        }
    }

    struct Stamp: Codable, Equatable { let at: Date }

    @Test("times travel as RFC 3339 in UTC with milliseconds, and whole-second times are read too")
    func dates() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000.25)
        let encoded = try WireCodec.encoder.encode(Stamp(at: date))
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"at":"2027-01-15T08:00:00.250Z"}"#)
        #expect(try WireCodec.decoder.decode(Stamp.self, from: encoded) == Stamp(at: date))
        let whole = try WireCodec.decoder.decode(Stamp.self, from: Data(#"{"at":"2027-01-15T08:00:00Z"}"#.utf8))
        #expect(whole.at == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(throws: DecodingError.self) { try WireCodec.decoder.decode(Stamp.self, from: Data(#"{"at":"tomorrow"}"#.utf8)) }
    }

    @Test("a time with a field out of range is refused, not rolled over into another time", arguments: [
        "2024-01-01T12:99:00Z", "2026-02-30T10:00:00Z", "2025-02-29T10:00:00Z", "2026-13-01T10:00:00Z", "2026-00-10T10:00:00Z",
        "2026-01-00T10:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T10:00:60Z", "2026-01-01T10:00:00+24:00", "2026-01-01T10:00:00.Z",
        "2026-01-01T10:00:00", "2026-1-01T10:00:00Z", "2026-01-01T10:00:00Z ",
    ])
    func datesOutOfRange(text: String) {
        #expect(throws: DecodingError.self) { try WireCodec.decoder.decode(Stamp.self, from: Data(#"{"at":"\#(text)"}"#.utf8)) }
    }

    @Test("every real time is still read: leap days, offsets, the ends of ranges", arguments: [
        ("2024-02-29T23:59:59Z", 1_709_251_199.0), ("2000-02-29T00:00:00.5Z", 951_782_400.5),
        ("2026-12-31T23:59:59.999Z", 1_798_761_599.999), ("2026-01-01T09:00:00+09:00", 1_767_225_600.0),
    ])
    func datesInRange(text: String, seconds: Double) throws {
        let stamp = try WireCodec.decoder.decode(Stamp.self, from: Data(#"{"at":"\#(text)"}"#.utf8))
        #expect(abs(stamp.at.timeIntervalSince1970 - seconds) < 0.001, "\(text) read as \(stamp.at)")
    }

    @Test("events carry source, epoch, number and type, with the type as the topic")
    func eventRoundTrip() throws {
        let frames = EventCodec.encode(source: "queue", epoch: "e1", seq: 42, type: "token.expired", body: Data(#"{"id":1,"note":"n"}"#.utf8))
        #expect(frames.count == 2)
        #expect(frames[0] == Data("token.expired".utf8))
        #expect(try EventCodec.decodeHead(frames[1]) == EventHead(v: 1, source: "queue", epoch: "e1", seq: 42, type: "token.expired"))
        #expect(try WireCodec.decodeBody(Seat.self, from: frames[1]) == Seat(id: 1, note: "n"))
    }
}
