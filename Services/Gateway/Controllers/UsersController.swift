import Contracts
import Hummingbird
import Messaging

/// `POST /api/v1/users` (sign up) and `GET /api/v1/users/me`.
struct UsersController {
    let backend: Backend
    let auth: Authenticator

    struct SignUp: Decodable { let name: String }

    func addRoutes(to routes: RouteCollection<BasicRequestContext>) {
        routes.post("api/v1/users") { request, _ in
            let body = try await request.decodeJSON(SignUp.self)
            let user = try await backend.call(.payment, PaymentAPI.createUser, CreateUser(name: body.name))
            auth.signedUp(user)
            return try JSONBody(user).response(status: .created)
        }
        routes.get("api/v1/users/me") { request, _ in
            let caller = try await auth.caller(of: request)
            return try JSONBody(UserView(id: caller.userId, name: caller.name)).response(status: .ok)
        }
    }
}
