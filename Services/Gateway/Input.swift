import Foundation
import Hummingbird
import Messaging
import NIOCore

/// What the gateway accepts from a client, before anything reaches a service.
enum RequestLimits {
    /// The largest body read (CONTRACT §3: 413 above 64 KiB).
    static let maxBodyBytes = 64 * 1024
    /// Ids are positive and below 2^53, exact as JSON numbers everywhere.
    static let ids: ClosedRange<Int64> = 1...(1 << 53 - 1)
}

extension Request {
    /// The body as JSON of `T`: at most 64 KiB (else 413), an object of the right shape (else 400
    /// `invalid_request` saying what is wrong).
    func decodeJSON<T: Decodable>(_ type: T.Type) async throws -> T {
        var request = self
        let buffer = try await request.collectBody(upTo: RequestLimits.maxBodyBytes)
        let data = Data(buffer: buffer)
        guard let first = data.first(where: { !$0.isWhitespace }), first == UInt8(ascii: "{") else {
            throw Problem.invalidRequest("the body must be a JSON object")
        }
        do {
            return try WireCodec.decoder.decode(T.self, from: data)
        } catch let error as DecodingError {
            throw Problem.invalidRequest(WireCodec.describe(error))
        } catch {
            throw Problem.invalidRequest("the body is not valid JSON")
        }
    }

    /// Refuses a body the route does not read when it is over the limit (413), as routes that read one do.
    func refuseLargeBody() throws {
        if let length = header("Content-Length").flatMap(Int.init), length > RequestLimits.maxBodyBytes {
            throw Problem.payloadTooLarge
        }
    }

    /// A header's value, by its case-insensitive name.
    func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.canonicalName == wanted }?.value
    }

    /// The `Idempotency-Key` header: required, 1–255 characters (CONTRACT §3).
    func idempotencyKey() throws -> String {
        guard let key = header("Idempotency-Key"), !key.isEmpty else {
            throw Problem(.badRequest, code: "idempotency_key_required", detail: "this endpoint needs an Idempotency-Key header")
        }
        guard key.utf8.count <= 1020, (1...255).contains(key.count) else {
            throw Problem.invalidRequest("the Idempotency-Key must be 1–255 characters")
        }
        return key
    }
}

extension UInt8 {
    fileprivate var isWhitespace: Bool { self == 0x20 || self == 0x0A || self == 0x0D || self == 0x09 }
}

extension RequestContext {
    /// A path id: a positive whole number below 2^53, else 400 `invalid_request`.
    func id(_ name: String) throws -> Int64 {
        guard let raw = parameters.get(name), raw.count <= 20, let id = Int64(raw), RequestLimits.ids.contains(id) else {
            throw Problem.invalidRequest("\(name) must be a positive whole number")
        }
        return id
    }
}
