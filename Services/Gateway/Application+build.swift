import Contracts
import Hummingbird
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

/// Builds the gateway; the entry point and the tests both call this.
func buildApplication(configuration: StackConfiguration, logger: Logger) throws -> Gateway {
    let peers = try PeerClients(ServiceName.allCases, configuration: configuration, logger: logger)
    let router = Router(context: BasicRequestContext.self)
    router.addRoutes(HealthController(peers: peers).routes)
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
