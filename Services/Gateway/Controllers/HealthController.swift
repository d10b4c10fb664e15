import Contracts
import Foundation
import Hummingbird
import Messaging
import ServiceKit

/// `/healthz` (the gateway runs) and `/readyz` (every service answered a ping within a second).
struct HealthController {
    let peers: PeerClients
    static let readinessTimeout = Duration.seconds(1)

    var routes: RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("healthz") { _, _ in
            try JSONBody(["status": "ok"]).response(status: .ok)
        }
        routes.get("readyz") { _, _ in
            try await readiness()
        }
        return routes
    }

    private func readiness() async throws -> Response {
        let answers = await withTaskGroup(of: (ServiceName, Bool).self) { group in
            for service in ServiceName.allCases {
                group.addTask {
                    let reply = try? await peers[service].call(service.ping, Empty(), timeout: Self.readinessTimeout)
                    return (service, reply != nil)
                }
            }
            return await group.reduce(into: [ServiceName: Bool]()) { $0[$1.0] = $1.1 }
        }
        let down = ServiceName.allCases.filter { answers[$0] != true }.map(\.rawValue)
        guard down.isEmpty else {
            throw Problem(.serviceUnavailable, code: "service_unavailable",
                          detail: "not answering: \(down.joined(separator: ", "))", extra: ["unavailable": down])
        }
        let services = Dictionary(uniqueKeysWithValues: ServiceName.allCases.map { ($0.rawValue, "up") })
        return try JSONBody(ReadyBody(status: "ready", services: services)).response(status: .ok)
    }

    struct ReadyBody: Encodable {
        let status: String
        let services: [String: String]
    }
}
