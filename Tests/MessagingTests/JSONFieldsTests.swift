import Foundation
import Testing
@testable import Messaging

@Suite("JSON object members located without decoding")
struct JSONFieldsTests {
    private func text(_ key: String, in json: String) -> String? {
        let data = Data(json.utf8)
        guard let ranges = JSONFields.ranges(in: data), let value = JSONFields.value(key, in: data, ranges: ranges) else { return nil }
        return String(decoding: value, as: UTF8.self)
    }

    @Test("each member's value is found whole: nested arrays and objects, strings holding brackets, quotes and escapes")
    func findsValues() throws {
        let json = #"{"scheduleId":12,"seats":[{"id":1,"note":"a ] } [ { \" \\"},{"id":2}],"version":-3,"ok":true,"none":null,"s":"x,y"}"#
        #expect(text("scheduleId", in: json) == "12")
        #expect(text("seats", in: json) == #"[{"id":1,"note":"a ] } [ { \" \\"},{"id":2}]"#)
        #expect(text("version", in: json) == "-3")
        #expect(text("ok", in: json) == "true")
        #expect(text("none", in: json) == "null")
        #expect(text("s", in: json) == #""x,y""#)
        #expect(text("missing", in: json) == nil)
        let data = Data(json.utf8)
        let ranges = try #require(JSONFields.ranges(in: data))
        #expect(JSONFields.integer("version", in: data, ranges: ranges) == -3)
        #expect(JSONFields.integer("s", in: data, ranges: ranges) == nil)
    }

    @Test("whitespace anywhere JSON allows it, an empty object, and a slice of a larger buffer")
    func whitespaceAndSlices() throws {
        #expect(text("a", in: " {\n \"a\" :\t[ 1 , 2 ] ,\"b\": {} } \n") == "[ 1 , 2 ]")
        #expect(JSONFields.ranges(in: Data("{}".utf8)) == [:])
        let frame = Data(#"xx{"v":7}yy"#.utf8)
        let slice = frame[2..<9]
        let ranges = try #require(JSONFields.ranges(in: slice))
        #expect(JSONFields.integer("v", in: slice, ranges: ranges) == 7)
    }

    @Test("what is not one JSON object is refused", arguments: [
        "", "[]", "12", #"{"a":1"#, #"{"a":[1}"#, #"{"a":"open}"#, #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":1} {"#, #"{"a":{"b":[1]]}"#,
    ])
    func refusesMalformed(json: String) {
        #expect(JSONFields.ranges(in: Data(json.utf8)) == nil)
    }

    @Test("a successful reply's body is the bytes encodeReply wrapped; an error reply has none")
    func replyBody() throws {
        let body = Data(#"{"seats":[1,2]}"#.utf8)
        #expect(WireCodec.successfulReplyBody(WireCodec.encodeReply(id: "c-1", body: body)) == body)
        #expect(WireCodec.successfulReplyBody(WireCodec.encodeErrorReply(id: "c-1", error: .busy)) == nil)
        #expect(WireCodec.successfulReplyBody(Data(#"{"v":1,"id":"c-1","body":{},"ok":true}"#.utf8)) == nil)
    }
}
