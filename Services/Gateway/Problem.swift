import Foundation
import Hummingbird
import Messaging

/// An RFC 9457 problem answer: `application/problem+json` with a stable machine `code` (CONTRACT §3).
struct Problem: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let detail: String
    var extra: [String: [String]] = [:]

    init(_ status: HTTPResponse.Status, code: String, detail: String, extra: [String: [String]] = [:]) {
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: Any] = [
            "type": "/problems/\(code)", "title": status.reasonPhrase, "status": status.code,
            "detail": detail, "code": code,
        ]
        for (key, value) in extra { object[key] = value }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Response(status: status, headers: [.contentType: "application/problem+json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON answer encoded with the project's one encoder.
struct JSONBody<Value: Encodable> {
    let value: Value
    init(_ value: Value) { self.value = value }

    func response(status: HTTPResponse.Status) throws -> Response {
        let data = try WireCodec.encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
