import Foundation
import Hummingbird
import Messaging
import NIOCore

/// An RFC 9457 problem answer: `application/problem+json` with a stable machine `code` (CONTRACT §3).
struct Problem: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let detail: String
    var extra: [String: [String]] = [:]
    /// Headers the answer needs besides its content type (a 405's `Allow`).
    var headers: HTTPFields = [:]
    /// Why a 503 is answered, for the operator's log line (which call, which deadline); never sent.
    var cause: String?

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
        var headers = headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: The contract's problems

    static func invalidRequest(_ detail: String) -> Problem { Problem(.badRequest, code: "invalid_request", detail: detail) }
    static func notFound(_ detail: String) -> Problem { Problem(.notFound, code: "not_found", detail: detail) }
    static let unauthorized = Problem(.unauthorized, code: "unauthorized", detail: "a valid API key is required: Authorization: Bearer <apiKey>")
    static let payloadTooLarge = Problem(.contentTooLarge, code: "payload_too_large",
                                         detail: "the body is larger than \(RequestLimits.maxBodyBytes / 1024) KiB")
    static func unavailable(_ detail: String, cause: String? = nil) -> Problem {
        var problem = Problem(.serviceUnavailable, code: "service_unavailable", detail: detail)
        problem.cause = cause
        return problem
    }

    /// The HTTP status of each code a service refuses with; a code not listed is not one a client
    /// can act on, and is answered as the service being unavailable.
    static let statusOfCode: [String: HTTPResponse.Status] = [
        "invalid_request": .badRequest, "bad_request": .badRequest, "invalid_amount": .badRequest,
        "unauthorized": .unauthorized,
        "queue_token_required": .forbidden, "queue_token_inactive": .forbidden,
        "not_found": .notFound,
        "insufficient_balance": HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"),
        "seat_unavailable": .conflict, "schedule_closed": .conflict, "hold_limit": .conflict,
        "reservation_not_cancelable": .conflict, "reservation_expired": .conflict, "reservation_not_payable": .conflict,
        "request_in_progress": .conflict,
        "idempotency_key_reused": .unprocessableContent,
        "service_unavailable": .serviceUnavailable,
    ]

    /// The problem a service's refusal becomes.
    init(_ refusal: RemoteError) {
        guard let status = Self.statusOfCode[refusal.code], refusal.code != "bad_request" else {
            if refusal.code == "bad_request" {
                self = .invalidRequest(refusal.message)
            } else {
                // busy, shutting_down, internal: the outcome is unknown, so the client retries.
                self = .unavailable("the service could not answer (\(refusal.code)); try again")
            }
            return
        }
        self.init(status, code: refusal.code, detail: refusal.message)
    }
}

/// A JSON answer encoded with the project's one encoder.
struct JSONBody<Value: Encodable> {
    let value: Value
    init(_ value: Value) { self.value = value }

    func response(status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response {
        EncodedJSON(try WireCodec.encoder.encode(value)).response(status: status, headers: headers)
    }
}

/// A JSON body already encoded: a service's reply body passed on as it came (services encode with
/// `WireCodec.encoder`, as `JSONBody` does, so the bytes are the ones the gateway would write).
struct EncodedJSON {
    let bytes: Data
    init(_ bytes: Data) { self.bytes = bytes }

    func response(status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A reply of the shape `{<member>: …, "created": true|false}` from `method`, answered with the
    /// member's bytes: 201 when the call created it, 200 when it was there already.
    static func createdOrFound(_ outcome: Data, member: String, of method: String) throws -> Response {
        guard let fields = JSONFields.ranges(in: outcome), let value = JSONFields.value(member, in: outcome, ranges: fields),
              let created = JSONFields.value("created", in: outcome, ranges: fields) else {
            throw MessagingError.malformedReply(method: method, reason: "not an outcome with \(member) and created")
        }
        return EncodedJSON(value).response(status: created.elementsEqual("true".utf8) ? .created : .ok)
    }
}

/// Turns every error a route throws into a problem answer, so nothing a client sends reaches a
/// 5xx other than 503, and unknown paths and methods get the contract's 404 and 405.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return try answer(problem, request, context)
        } catch let refusal as RemoteError {
            return try answer(Problem(refusal), request, context)
        } catch let error as MessagingError {
            return try answer(Problem.unavailable("a service did not answer in time; try again", cause: error.description), request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            if let allowed = routes.methods(on: path) {
                var problem = Problem(.methodNotAllowed, code: "method_not_allowed", detail: "\(request.method) is not allowed on \(path)")
                // RFC 9110 §15.5.6: a 405 names the methods the resource does support.
                problem.headers[.allow] = allowed.joined(separator: ", ")
                return try problem.response(from: request, context: context)
            }
            return try Problem.notFound("no such path: \(path.prefix(200))").response(from: request, context: context)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            return try Problem.payloadTooLarge.response(from: request, context: context)
        } catch let error as any HTTPResponseError where (400..<500).contains(error.status.code) {
            return try Problem(error.status, code: "invalid_request", detail: "\(error)").response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["http.error": .string("\(error)")])
            return try answer(Problem.unavailable("the request could not be completed; try again", cause: "\(error)"), request, context)
        }
    }

    /// The problem's answer; a 503 is logged first with its cause, so an operator can tell which
    /// call failed and how (DESIGN: every 503 has a log line).
    private func answer(_ problem: Problem, _ request: Request, _ context: Context) throws -> Response {
        if problem.status == .serviceUnavailable {
            context.logger.warning("answering 503", metadata: [
                "http.method": .string(request.method.rawValue), "http.path": .string(String(request.uri.path.prefix(200))),
                "http.cause": .string(problem.cause ?? problem.detail),
            ])
        }
        return try problem.response(from: request, context: context)
    }
}

/// The paths the gateway serves and the methods of each, so an unknown method on a known path is
/// 405 with its `Allow` header rather than 404.
struct RouteTable: Sendable {
    let patterns: [(parts: [String], methods: [String])]

    init(_ routes: [(method: String, path: String)]) {
        var patterns: [(parts: [String], methods: [String])] = []
        for route in routes {
            let parts = route.path.split(separator: "/").map(String.init)
            if let index = patterns.firstIndex(where: { $0.parts == parts }) {
                if !patterns[index].methods.contains(route.method) { patterns[index].methods.append(route.method) }
            } else {
                patterns.append((parts, [route.method]))
            }
        }
        self.patterns = patterns
    }

    /// The methods served on `path`, or nil when no route has that path.
    func methods(on path: String) -> [String]? {
        let parts = path.split(separator: "/").map(String.init)
        let matching = patterns.filter { pattern in
            pattern.parts.count == parts.count && zip(pattern.parts, parts).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }
        return matching.isEmpty ? nil : matching.flatMap(\.methods)
    }
}
