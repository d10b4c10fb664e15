import Contracts
import Hummingbird
import Prometheus
import Logging
import ServiceKit
import ServiceLifecycle

/// The gateway's parts: the HTTP application and the clients it calls the services with.
struct Gateway {
    let application: any ApplicationProtocol
    let peers: PeerClients

    /// Started in this order and stopped in reverse: HTTP stops before the clients close.
    var services: [any Service] { [peers, application] }
}

/// Every path the gateway serves, for telling an unknown method (405) from an unknown path (404).
let servedPaths = [
    "healthz", "readyz",
    "api/v1/users", "api/v1/users/me",
    "api/v1/queue/tokens", "api/v1/queue/tokens/current",
    "api/v1/concerts", "api/v1/concerts/:concertId/schedules", "api/v1/schedules/:scheduleId/seats",
    "api/v1/reservations", "api/v1/reservations/:reservationId", "api/v1/reservations/:reservationId/payment",
    "api/v1/wallet", "api/v1/wallet/charges", "api/v1/wallet/transactions",
    "api/v1/admin/concerts", "metrics",
]

/// Builds the gateway; the entry point and the tests both call this.
/// `registry` is where `/metrics` reads from: the one `GatewayMetrics.bootstrap()` made.
func buildApplication(configuration: StackConfiguration, logger: Logger, registry: PrometheusCollectorRegistry) throws -> Gateway {
    let peers = try PeerClients(ServiceName.allCases, configuration: configuration, logger: logger)
    let backend = Backend(peers: peers)
    let auth = Authenticator(backend: backend)
    let gate = QueueGate(backend: backend)

    let router = Router(context: BasicRequestContext.self)
    // Metrics outermost, to see the final status; then problems, which also shape the answers
    // for unknown paths and methods; then the route label the RPC counts carry.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware(routes: RouteTable(servedPaths)))
    router.add(middleware: RouteLabelMiddleware())
    let routes = RouteCollection(context: BasicRequestContext.self)
    UsersController(backend: backend, auth: auth).addRoutes(to: routes)
    QueueController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    CatalogController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    ReservationsController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    WalletController(backend: backend, auth: auth).addRoutes(to: routes)
    AdminController(backend: backend, adminToken: configuration.adminToken).addRoutes(to: routes)
    router.addRoutes(routes)
    router.addRoutes(HealthController(peers: peers).routes)
    router.addRoutes(GatewayMetrics.routes(registry))

    let application = Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.gatewayHost, port: configuration.gatewayPort),
            serverName: "concert-gateway"
        ),
        logger: logger
    )
    return Gateway(application: application, peers: peers)
}
