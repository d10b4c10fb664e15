import Contracts
import Foundation
import Hummingbird
import Messaging

/// `POST /api/v1/admin/concerts`, on only when `ADMIN_TOKEN` is set (else every admin path is 404).
struct AdminController {
    let backend: Backend
    let adminToken: String?

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.post("api/v1/admin/concerts") { request, _ in
            try authorize(request)
            let body = try await request.decodeJSON(CreateConcert.self)
            return try JSONBody(try await backend.call(.concert, ConcertAPI.createConcert, body)).response(status: .created)
        }
    }

    private func authorize(_ request: Request) throws {
        guard let adminToken else { throw Problem.notFound("no such path: \(request.uri.path)") }
        let given = Array((Authenticator.bearer(request) ?? "").utf8)
        let expected = Array(adminToken.utf8)
        // Every byte is compared whatever the first difference, so the time taken says nothing of the secret.
        let difference = zip(given, expected).reduce(UInt8(given.count == expected.count ? 0 : 1)) { $0 | ($1.0 ^ $1.1) }
        guard difference == 0 else {
            throw Problem(.unauthorized, code: "unauthorized", detail: "the admin API needs Authorization: Bearer <ADMIN_TOKEN>")
        }
    }
}
