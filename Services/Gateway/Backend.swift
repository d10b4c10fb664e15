import Contracts
import Foundation
import Messaging
import ServiceKit

/// Calls to the services with the gateway's deadline: a service that is down or slow becomes a
/// 503 within 3 seconds (CONTRACT §3), never a hang. Refusals pass through as `RemoteError`, which
/// `ProblemMiddleware` turns into the contract's problem answers.
struct Backend: Sendable {
    let peers: PeerClients
    func call<Request, Response>(_ service: ServiceName, _ method: RPCMethod<Request, Response>, _ request: Request) async throws -> Response {
        try await counted(method.name) { remaining in try await peers[service].call(method, request, timeout: remaining) }
    }

    /// The reply's body as the service encoded it, for a route that passes it on without decoding.
    func callForBody<Request, Response>(_ service: ServiceName, _ method: RPCMethod<Request, Response>, _ request: Request) async throws -> Data {
        try await counted(method.name) { remaining in try await peers[service].callForBody(method, request, timeout: remaining) }
    }

    /// Runs one call within what is left of the request's budget (2.8 s, under the contract's 3),
    /// so a request that makes several calls still answers in time, and counts its outcome.
    /// A call that ends the request with a 503 throws a `Problem` naming the call and its deadline,
    /// which `ProblemMiddleware` logs.
    private func counted<Reply>(_ method: String, _ call: (Duration) async throws -> Reply) async throws -> Reply {
        let remaining = (RequestScope.deadline ?? ContinuousClock.now + RequestScope.budget) - ContinuousClock.now
        guard remaining > .milliseconds(20) else {
            GatewayMetrics.countCall(method, outcome: "no_time_left")
            throw Problem.unavailable("the services did not answer in time; try again",
                                      cause: "\(method) not sent: \(Self.milliseconds(remaining)) ms of the request's deadline left")
        }
        do {
            let reply = try await call(remaining)
            GatewayMetrics.countCall(method, outcome: "ok")
            return reply
        } catch let refusal as RemoteError {
            GatewayMetrics.countCall(method, outcome: refusal.code)
            var problem = Problem(refusal)
            guard problem.status == .serviceUnavailable else { throw refusal }
            problem.cause = "\(method) refused: \(refusal.code)"
            throw problem
        } catch let error as MessagingError {
            GatewayMetrics.countCall(method, outcome: "no_answer")
            throw Problem.unavailable("a service did not answer in time; try again",
                                      cause: "\(error.description) (deadline \(Self.milliseconds(remaining)) ms)")
        } catch {
            GatewayMetrics.countCall(method, outcome: "no_answer")
            throw error
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration / .milliseconds(1))
    }
}
