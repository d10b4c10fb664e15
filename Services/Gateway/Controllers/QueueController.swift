import Contracts
import Hummingbird
import Messaging

/// The waiting room: take a place, ask where it stands, leave the line. The queue's views are
/// passed on as it encoded them.
struct QueueController {
    let backend: Backend
    let auth: Authenticator
    let gate: QueueGate

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.post("api/v1/queue/tokens") { request, _ in
            let caller = try await auth.caller(of: request)
            try request.refuseLargeBody()
            let issued = try await backend.callForBody(.queue, QueueAPI.issue, IssueToken(userId: caller.userId))
            return try EncodedJSON.createdOrFound(issued, member: "view", of: QueueAPI.issue.name)
        }
        routes.get("api/v1/queue/tokens/current") { request, _ in
            let caller = try await auth.caller(of: request)
            let token = try QueueGate.token(of: request)
            let view = try await backend.callForBody(.queue, QueueAPI.status, TokenQuery(userId: caller.userId, token: token))
            return EncodedJSON(view).response(status: .ok)
        }
        routes.delete("api/v1/queue/tokens/current") { request, _ in
            let caller = try await auth.caller(of: request)
            let token = try QueueGate.token(of: request)
            _ = try await backend.call(.queue, QueueAPI.expire, ExpireToken(userId: caller.userId, token: token))
            gate.expired(token)
            return Response(status: .noContent)
        }
    }
}
