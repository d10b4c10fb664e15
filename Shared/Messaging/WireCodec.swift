import Foundation

/// A typed service method: its wire name (`<service>.<name>`), request and reply bodies, and whether
/// a caller may safely send it again after a lost reply (DESIGN §3: only idempotent calls are retried).
package struct RPCMethod<Request: Codable & Sendable, Response: Codable & Sendable>: Sendable {
    package let name: String
    package let idempotent: Bool

    package init(_ name: String, idempotent: Bool) {
        self.name = name
        self.idempotent = idempotent
    }
}

/// The body of a method that takes or returns nothing: `{}` on the wire.
package struct Empty: Codable, Sendable, Equatable {
    package init() {}

    // The synthesized decoder of a struct without fields reads nothing and so takes any JSON; a body
    // of the wrong shape (`"x"`, `[]`) must be `bad_request` for these methods too.
    package init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: NoKeys.self)
    }

    private enum NoKeys: CodingKey {}
}

/// An error a service answers with (`"ok": false`). Handlers throw it for business refusals;
/// callers receive it as it was sent. `code` is a stable machine word.
package struct RemoteError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    package let code: String
    package let message: String

    package init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code): \(message)" }

    // The protocol's own refusals; services add their business codes beside these.
    package static func badRequest(_ message: String) -> RemoteError { RemoteError("bad_request", message) }
    package static func unknownMethod(_ method: String) -> RemoteError { RemoteError("unknown_method", "no method named \(method)") }
    package static func unsupportedVersion(_ v: Int) -> RemoteError { RemoteError("unsupported_version", "envelope version \(v) is not supported; use 1") }
    package static let internalError = RemoteError("internal", "the service failed to handle the request")
    package static let busy = RemoteError("busy", "the service has too many requests in flight; retry shortly")
    package static let shuttingDown = RemoteError("shutting_down", "the service is stopping; retry shortly")
    package static let tooLarge = RemoteError("too_large", "the message exceeds the \(WireCodec.maxFrameBytes)-byte frame limit")
}

/// The head of a request envelope: everything but the body.
package struct RequestHead: Decodable, Sendable, Equatable {
    package let v: Int
    package let id: String
    package let method: String
    /// The caller's W3C trace context, when it sends one; peers that do not know the field ignore it.
    package let traceparent: String?

    package init(v: Int, id: String, method: String, traceparent: String? = nil) {
        self.v = v
        self.id = id
        self.method = method
        self.traceparent = traceparent
    }
}

/// The head of a reply envelope: everything but the body.
package struct ReplyHead: Decodable, Sendable, Equatable {
    package let v: Int
    package let id: String
    package let ok: Bool
    package let error: RemoteError?
}

/// Why a frame could not be read as an envelope.
package enum FrameError: Error, Equatable, CustomStringConvertible {
    case tooLarge(bytes: Int, limit: Int)
    case malformed(String)

    package var description: String {
        switch self {
        case .tooLarge(let bytes, let limit): "frame of \(bytes) bytes exceeds the \(limit)-byte limit"
        case .malformed(let why): "malformed envelope: \(why)"
        }
    }
}

/// The envelope of CONTRACT §5, as pure functions over bytes: no sockets, no state.
///
/// Bodies travel as already-encoded JSON and are spliced into the envelope, so a probe can send
/// any JSON it is given and a typed caller encodes its body exactly once.
package enum WireCodec {
    package static let version = 1
    /// The largest frame a service accepts; sockets drop peers that send more (ZMQ_MAXMSGSIZE).
    package static let maxFrameBytes = 1 << 20

    /// RFC 3339 in UTC with milliseconds: whole seconds would cut a hold of `HOLD_SECONDS=0.5` to nothing.
    static let dateFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    static let wholeSecondDateFormat = Date.ISO8601FormatStyle(timeZone: .gmt)

    package static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(dateFormat.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Reads RFC 3339 times with or without fractional seconds.
    package static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if hasFieldsInRange(text) {
                if let date = try? dateFormat.parse(text) { return date }
                if let date = try? wholeSecondDateFormat.parse(text) { return date }
            }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an RFC 3339 time such as 2026-01-31T19:30:00Z")
        }
        return decoder
    }()

    /// Whether an RFC 3339 time's fields are all in range: the format styles roll an impossible one
    /// over rather than refuse it (`12:99` reads as 13:39, 30 February as 2 March), so a typing
    /// mistake would quietly become another time. Plain byte checks: this runs for every time read.
    static func hasFieldsInRange(_ text: String) -> Bool {
        // The string's own UTF-8 storage, read in place: no copy on this path.
        var text = text
        return text.withUTF8(fieldsInRange)
    }

    private static let daysInMonth = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

    private static func fieldsInRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard bytes.count >= 20, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] | 0x20 == UInt8(ascii: "t"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), hour < 24, minute < 60, second < 60
        else { return false }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let digits = bytes[index...].prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            guard digits > 0 else { return false }
            index += digits
        }
        let zoneInRange: Bool
        if index == bytes.count - 1 {
            zoneInRange = bytes[index] | 0x20 == UInt8(ascii: "z")
        } else if index + 6 == bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-"), bytes[index + 3] == UInt8(ascii: ":"),
                  let hours = number(index + 1, 2), let minutes = number(index + 4, 2) {
            zoneInRange = hours < 24 && minutes < 60
        } else {
            zoneInRange = false
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = daysInMonth[month - 1] + (month == 2 && leap ? 1 : 0)
        return zoneInRange && (1...days).contains(day)
    }

    // MARK: Requests

    /// `traceparent`, when given, travels between the method and the body (CONTRACT §5 allows
    /// extra envelope fields; a peer that does not know it ignores it).
    package static func encodeRequest(id: String, method: String, traceparent: String? = nil, body: Data) -> Data {
        var frame = Data("{\"v\":\(version),\"id\":".utf8)
        frame.append(jsonString(id))
        frame.append(contentsOf: Array(",\"method\":".utf8))
        frame.append(jsonString(method))
        if let traceparent {
            frame.append(contentsOf: Array(",\"traceparent\":".utf8))
            frame.append(jsonString(traceparent))
        }
        frame.append(contentsOf: Array(",\"body\":".utf8))
        frame.append(body)
        frame.append(UInt8(ascii: "}"))
        return frame
    }

    package static func encodeRequest<Body: Encodable>(id: String, method: String, body: Body) throws -> Data {
        encodeRequest(id: id, method: method, body: try encoder.encode(body))
    }

    /// Reads a request's head; throws `FrameError` for oversized or malformed frames.
    package static func decodeRequestHead(_ frame: Data) throws(FrameError) -> RequestHead {
        try decodeHead(RequestHead.self, frame)
    }

    // MARK: Replies

    package static func encodeReply(id: String, body: Data) -> Data {
        var frame = Data("{\"v\":\(version),\"id\":".utf8)
        frame.append(jsonString(id))
        frame.append(contentsOf: Array(",\"ok\":true,\"body\":".utf8))
        frame.append(body)
        frame.append(UInt8(ascii: "}"))
        return frame
    }

    package static func encodeErrorReply(id: String, error: RemoteError) -> Data {
        var frame = Data("{\"v\":\(version),\"id\":".utf8)
        frame.append(jsonString(id))
        frame.append(contentsOf: Array(",\"ok\":false,\"error\":".utf8))
        // Two strings always encode.
        frame.append((try? encoder.encode(error)) ?? Data("{\"code\":\"internal\",\"message\":\"\"}".utf8))
        frame.append(UInt8(ascii: "}"))
        return frame
    }

    package static func decodeReplyHead(_ frame: Data) throws(FrameError) -> ReplyHead {
        try decodeHead(ReplyHead.self, frame)
    }

    // MARK: Bodies

    /// Decodes the `body` of any envelope (request, reply or event) as `Body`.
    /// A missing or null body reads as `{}`, so methods without parameters may omit it.
    package static func decodeBody<Body: Decodable>(_ type: Body.Type, from frame: Data) throws -> Body {
        try decoder.decode(BodyField<Body>.self, from: frame).body ?? emptyBody()
    }

    /// What a missing or null body reads as: `{}` decoded as `Body` (fails for a body with required fields).
    private static func emptyBody<Body: Decodable>() throws -> Body {
        try decoder.decode(Body.self, from: Data("{}".utf8))
    }

    // MARK: Each frame parsed once

    /// The head of a request as this project's `encodeRequest` writes it, read from the frame's
    /// first bytes without parsing the rest: `{"v":1,"id":"…","method":"…",["traceparent":"…",]"body":`. Nil for any
    /// other shape (keys in another order, an escape in a string, another version): such a frame
    /// is parsed in full. The handler's one full parse (`decodeRequest`) still checks the whole
    /// frame, so a frame is never taken on these bytes alone.
    package static func scanRequestHead(_ frame: Data) -> RequestHead? {
        guard frame.count <= maxFrameBytes else { return nil }
        return frame.withUnsafeBytes { bytes in
            var scanner = EnvelopeScanner(bytes)
            guard scanner.skip(requestStart), let id = scanner.plainString(),
                  scanner.skip(methodKey), let method = scanner.plainString()
            else { return nil }
            var traceparent: String?
            if scanner.skip(traceparentKey) {
                guard let value = scanner.plainString() else { return nil }
                traceparent = value
            }
            guard scanner.skip(bodyKey) else { return nil }
            // Another writer may put the trace after the body: such a frame is parsed in full, so
            // its trace is not lost (a body that merely holds the word is parsed in full too).
            if traceparent == nil, scanner.contains(traceparentName) { return nil }
            return RequestHead(v: version, id: id, method: method, traceparent: traceparent)
        }
    }

    /// The id of a successful reply as `encodeReply` writes it (`{"v":1,"id":"…","ok":true,"body":`),
    /// read from its first bytes; nil for anything else (errors included), which is parsed in full.
    package static func scanSuccessfulReplyID(_ frame: Data) -> String? {
        frame.withUnsafeBytes { bytes in
            var scanner = EnvelopeScanner(bytes)
            guard scanner.skip(requestStart), let id = scanner.plainString(), scanner.skip(okBodyKeys) else { return nil }
            return id
        }
    }

    /// The body of a successful reply as `encodeReply` wrote it, the bytes between its fixed start
    /// and the envelope's closing brace; nil for anything else, which is parsed in full.
    package static func successfulReplyBody(_ frame: Data) -> Data? {
        let start: Int? = frame.withUnsafeBytes { bytes in
            var scanner = EnvelopeScanner(bytes)
            guard scanner.skip(requestStart), scanner.plainString() != nil, scanner.skip(okBodyKeys),
                  bytes.count > scanner.index, bytes[bytes.count - 1] == UInt8(ascii: "}") else { return nil }
            return scanner.index
        }
        guard let start else { return nil }
        return frame[(frame.startIndex + start)..<(frame.endIndex - 1)]
    }

    /// A request's body, read with its head in one parse. The head must be the one the frame was
    /// routed by: a frame that names a key twice with two values could otherwise be routed by one
    /// and read by the other.
    package static func decodeRequest<Body: Decodable>(_ type: Body.Type, from frame: Data, routedBy head: RequestHead) throws -> Body {
        let envelope = try decoder.decode(RequestEnvelope<Body>.self, from: frame)
        guard envelope.v == head.v, envelope.id == head.id, envelope.method == head.method, envelope.traceparent == head.traceparent else {
            throw RemoteError.badRequest("the envelope names one of v, id, method and traceparent twice")
        }
        return try envelope.body ?? emptyBody()
    }

    /// A reply read whole in one parse: its version and either its body or the error it carries.
    package static func decodeReply<Body: Decodable>(_ type: Body.Type, from frame: Data) throws -> (v: Int, outcome: Result<Body, RemoteError>) {
        let envelope = try decoder.decode(ReplyEnvelope<Body>.self, from: frame)
        guard envelope.ok else { return (envelope.v, .failure(envelope.error ?? .internalError)) }
        return (envelope.v, .success(try envelope.body ?? emptyBody()))
    }

    private static let requestStart = Array("{\"v\":\(version),\"id\":\"".utf8)
    private static let methodKey = Array(",\"method\":\"".utf8)
    private static let traceparentKey = Array(",\"traceparent\":\"".utf8)
    private static let traceparentName = Array("\"traceparent\"".utf8)
    private static let bodyKey = Array(",\"body\":".utf8)
    private static let okBodyKeys = Array(",\"ok\":true,\"body\":".utf8)

    private struct RequestEnvelope<Body: Decodable>: Decodable {
        let v: Int
        let id: String
        let method: String
        let traceparent: String?
        let body: Body?
    }

    private struct ReplyEnvelope<Body: Decodable>: Decodable {
        let v: Int
        let ok: Bool
        let error: RemoteError?
        let body: Body?
    }

    /// The `body` of an envelope as raw JSON (for probes and logs), or nil when it has none.
    package static func rawBody(of frame: Data) -> Any? {
        guard let object = try? JSONSerialization.jsonObject(with: frame) as? [String: Any] else { return nil }
        return object["body"]
    }

    // MARK: Helpers

    private struct BodyField<Body: Decodable>: Decodable {
        let body: Body?
    }

    static func decodeHead<Head: Decodable>(_ type: Head.Type, _ frame: Data) throws(FrameError) -> Head {
        guard frame.count <= maxFrameBytes else { throw .tooLarge(bytes: frame.count, limit: maxFrameBytes) }
        do {
            return try decoder.decode(Head.self, from: frame)
        } catch let error as DecodingError {
            throw .malformed(describe(error))
        } catch {
            throw .malformed("\(error)")
        }
    }

    static func jsonString(_ string: String) -> Data {
        Data(JSONText.quoted(string).utf8)
    }

    /// A short, client-facing account of why JSON did not decode.
    package static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the document" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing field \(parent == "the document" ? key.stringValue : parent + "." + key.stringValue)"
        case .typeMismatch(let type, let context): return "\(path(context)) should be \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)) should be \(type), not null"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)): \(context.debugDescription)"
        @unknown default: return "undecodable"
        }
    }
}

/// Reads the fixed start of an envelope this project wrote, byte by byte.
private struct EnvelopeScanner {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Steps over `literal` if the bytes at the index are exactly it.
    mutating func skip(_ literal: [UInt8]) -> Bool {
        guard bytes.count - index >= literal.count else { return false }
        for (offset, byte) in literal.enumerated() where bytes[index + offset] != byte { return false }
        index += literal.count
        return true
    }

    /// Whether `literal` occurs anywhere after the index.
    func contains(_ literal: [UInt8]) -> Bool {
        guard let first = literal.first, bytes.count - index >= literal.count else { return false }
        var at = index
        while at + literal.count <= bytes.count {
            if bytes[at] == first, literal.indices.allSatisfy({ bytes[at + $0] == literal[$0] }) { return true }
            at += 1
        }
        return false
    }

    /// The string whose opening quote was just read, through its closing quote; nil when it holds an
    /// escape or a control character (full parsing decides those) or is not UTF-8.
    mutating func plainString() -> String? {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                return String(validating: bytes[start..<index], as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }
}
