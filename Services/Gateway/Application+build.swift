import Contracts
import Hummingbird
import Logging
import ServiceKit
import ServiceLifecycle
import Synchronization

/// The gateway's parts: the HTTP application and the clients it calls the services with.
struct Gateway {
    let application: any ApplicationProtocol
    let peers: PeerClients
    /// Follows the queue's events for the gated endpoints' token checks.
    let admissions: AdmissionView
    /// Tells systemd once HTTP is listening, and when the stop begins.
    let readiness: ReadinessReport

    /// swift-otel's exporter, when spans are exported.
    let telemetry: [any Service]

    /// Started in this order and stopped in reverse: HTTP stops before the clients close.
    var services: [any Service] { telemetry + [peers, admissions, application, readiness] }
}

/// Every operation the gateway serves: the routes below register exactly these, the OpenAPI
/// document lists exactly these (a test checks it), and an unknown method on one of their paths is
/// 405 rather than 404.
let servedRoutes: [(method: String, path: String)] = [
    ("GET", "healthz"), ("GET", "readyz"), ("GET", "metrics"), ("GET", "openapi.json"), ("GET", "openapi.yaml"),
    ("POST", "api/v1/users"), ("GET", "api/v1/users/me"),
    ("POST", "api/v1/queue/tokens"), ("GET", "api/v1/queue/tokens/current"), ("DELETE", "api/v1/queue/tokens/current"),
    ("GET", "api/v1/concerts"), ("GET", "api/v1/concerts/:concertId/schedules"), ("GET", "api/v1/schedules/:scheduleId/seats"),
    ("POST", "api/v1/reservations"), ("GET", "api/v1/reservations"),
    ("GET", "api/v1/reservations/:reservationId"), ("DELETE", "api/v1/reservations/:reservationId"),
    ("POST", "api/v1/reservations/:reservationId/payment"),
    ("GET", "api/v1/wallet"), ("POST", "api/v1/wallet/charges"), ("GET", "api/v1/wallet/transactions"),
    ("POST", "api/v1/admin/concerts"),
]

/// `telemetry` is where `/metrics` reads the gateway's own metrics from: the one `Telemetry.bootstrap` made.
/// `web` is the box-office page served at `/` (the bundled one unless a test passes its own).
func buildApplication(configuration: StackConfiguration, logger: Logger, telemetry: Telemetry,
                      web: WebAssets? = nil) throws -> Gateway {
    let web = try web ?? WebAssets.bundled()
    if let clash = web.paths.first(where: { path in servedRoutes.contains { $0.path == path } }) {
        throw WebAssetsError.clash(clash)
    }
    let peers = try PeerClients(ServiceName.allCases, configuration: configuration, logger: logger)
    let backend = Backend(peers: peers)
    let auth = Authenticator(backend: backend)
    let admissions = AdmissionView(eventsEndpoint: configuration.endpoints(of: .queue).events, logger: logger)
    let gate = QueueGate(backend: backend, view: admissions)

    let router = Router(context: BasicRequestContext.self)
    // Metrics outermost, to see the final status; then the trace (W3C `traceparent` in, a server
    // span for the request) and the access log inside it, so its line carries the trace id; then
    // problems, which also shape the answers for unknown paths and methods; then the request's
    // route label and deadline.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: TracingMiddleware())
    router.add(middleware: AccessLogMiddleware())
    let knownRoutes = servedRoutes.filter { configuration.adminToken != nil || !$0.path.hasPrefix("api/v1/admin") }
        + web.paths.flatMap { path in [(method: "GET", path: path), (method: "HEAD", path: path)] }
    router.add(middleware: ProblemMiddleware(routes: RouteTable(knownRoutes)))
    router.add(middleware: RequestScopeMiddleware())
    let routes = RouteCollection(context: BasicRequestContext.self)
    UsersController(backend: backend, auth: auth).addRoutes(to: routes)
    QueueController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    CatalogController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    ReservationsController(backend: backend, auth: auth, gate: gate).addRoutes(to: routes)
    WalletController(backend: backend, auth: auth).addRoutes(to: routes)
    AdminController(backend: backend, adminToken: configuration.adminToken).addRoutes(to: routes)
    WebController(assets: web).addRoutes(to: routes)
    router.addRoutes(routes)
    router.addRoutes(HealthController(peers: peers).routes)
    router.addRoutes(GatewayMetrics.routes(telemetry, peers: peers))
    // Read and converted now, at start-up, not on the first request that asks for it.
    let document = try OpenAPIDocument.bundled()
    let json = ByteBuffer(string: document.json), yaml = ByteBuffer(string: document.yaml)
    router.get("openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: json))
    }
    router.get("openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: ResponseBody(byteBuffer: yaml))
    }

    let listening = Atomic<Bool>(false)
    let application = Application(
        router: router,
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.gatewayHost, port: configuration.gatewayPort),
            serverName: "concert-gateway"
        ),
        onServerRunning: { _ in listening.store(true, ordering: .releasing) },
        logger: logger
    )
    let readiness = ReadinessReport(status: "serving HTTP on \(configuration.gatewayHost):\(configuration.gatewayPort)",
                                    logger: logger) { listening.load(ordering: .acquiring) }
    return Gateway(application: application, peers: peers, admissions: admissions, readiness: readiness,
                   telemetry: telemetry.services)
}
