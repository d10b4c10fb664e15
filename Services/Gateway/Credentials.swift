import Contracts
import Foundation
import Hummingbird
import Messaging
import ServiceKit
import Synchronization

/// Who the caller is: `Authorization: Bearer <apiKey>`, resolved by the payment service once and
/// remembered for the life of the key. A key never changes owner and is never revoked (CONTRACT §2
/// has no such operation), so the answer cannot go stale; an unknown key is asked about each time,
/// so a user just signed up through another gateway is known at once. A user signed up through
/// this gateway is known from the sign-up's answer, so a fan who signs up and joins the line costs
/// no lookup. The memory is bounded: when full it starts again, costing one lookup per caller.
final class Authenticator: Sendable {
    private let backend: Backend
    private let remembered = Mutex<[String: AuthenticatedUser]>([:])
    static let mostRemembered = 100_000

    init(backend: Backend) {
        self.backend = backend
    }

    /// The credential of `Authorization: Bearer <credential>` (the scheme in any case, RFC 9110).
    static func bearer(_ request: Request) -> String? {
        guard let authorization = request.headers[.authorization], authorization.count > 7,
              authorization.prefix(7).lowercased() == "bearer " else { return nil }
        return String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    /// The caller, or 401 `unauthorized`.
    func caller(of request: Request) async throws -> AuthenticatedUser {
        guard let key = Self.bearer(request), !key.isEmpty, key.utf8.count <= 256 else { throw Problem.unauthorized }
        if let known = remembered.withLock({ $0[key] }) { return known }
        do {
            let user = try await backend.call(.payment, PaymentAPI.authenticate, Authenticate(apiKey: key))
            remember(user, by: key)
            return user
        } catch let refusal as RemoteError where refusal.code == "unauthorized" {
            throw Problem.unauthorized
        }
    }

    /// A user payment has just created: its key is known without asking.
    func signedUp(_ user: NewUser) {
        remember(AuthenticatedUser(userId: user.id, name: user.name), by: user.apiKey)
    }

    private func remember(_ user: AuthenticatedUser, by key: String) {
        remembered.withLock { cache in
            if cache.count >= Self.mostRemembered { cache.removeAll(keepingCapacity: true) }
            cache[key] = user
        }
    }
}

/// The waiting room's gate for the endpoints marked gated: `X-Queue-Token` must be the caller's
/// own active token. The gateway's `AdmissionView` answers when it can tell; otherwise the queue
/// is asked (`queue.validate`), and its active answer is learnt by the view.
final class QueueGate: Sendable {
    private let backend: Backend
    private let view: AdmissionView

    init(backend: Backend, view: AdmissionView) {
        self.backend = backend
        self.view = view
    }

    /// The caller's token from the request, or 403 `queue_token_required`.
    static func token(of request: Request) throws -> String {
        guard let token = request.header("X-Queue-Token"), !token.isEmpty else {
            throw Problem(.forbidden, code: "queue_token_required", detail: "this endpoint needs your waiting-room token in X-Queue-Token")
        }
        return token
    }

    /// This gateway has just expired the token (its owner left the line): it stops passing at once.
    func expired(_ token: String) {
        if let claims = QueueToken(parsing: token) { view.expired(seq: claims.seq) }
    }

    /// Passes when the token is the caller's and active; else 403.
    func admit(_ request: Request, user: AuthenticatedUser) async throws {
        let token = try Self.token(of: request)
        let inactive = Problem(.forbidden, code: "queue_token_inactive", detail: "your waiting-room token is not active (still waiting, expired, or not yours)")
        // Malformed or someone else's: the queue would refuse it alike, so it is not asked.
        guard let claims = QueueToken(parsing: token), claims.userId == user.userId else {
            GatewayMetrics.countTokenCheck(answeredBy: "view", active: false)
            throw inactive
        }
        let digest = QueueToken.digest(of: token)
        let generation: UInt64?
        switch view.verdict(seq: claims.seq, userId: user.userId, digest: digest, now: Date()) {
        case .admit:
            GatewayMetrics.countTokenCheck(answeredBy: "view", active: true)
            return
        case .refuse:
            GatewayMetrics.countTokenCheck(answeredBy: "view", active: false)
            throw inactive
        case .ask(let current):
            generation = current
        }
        let validity: TokenValidity
        do {
            validity = try await backend.call(.queue, QueueAPI.validate, TokenQuery(userId: user.userId, token: token))
        } catch let refusal as RemoteError where refusal.code == "queue_token_inactive" || refusal.code == "invalid_request" {
            GatewayMetrics.countTokenCheck(answeredBy: "queue", active: false)
            throw inactive
        }
        GatewayMetrics.countTokenCheck(answeredBy: "queue", active: validity.active)
        guard validity.active, let expiresAt = validity.expiresAt else { throw inactive }
        view.learn(seq: claims.seq, userId: user.userId, digest: digest, expiresAt: expiresAt, generation: generation)
    }
}
