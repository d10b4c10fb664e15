import Contracts
import Logging
import Messaging
import ServiceLifecycle

/// One RPC client per backend service a process calls, made once and shared by all its tasks.
/// As a `Service` it closes them on shutdown, failing calls still in flight at once.
package final class PeerClients: Service {
    private let clients: [ServiceName: RPCClient]

    package convenience init(_ services: [ServiceName], configuration: StackConfiguration, logger: Logger) throws {
        try self.init(endpoints: Dictionary(uniqueKeysWithValues: services.map { ($0, configuration.endpoints(of: $0).rpc) }), logger: logger)
    }

    /// Clients for the given request/reply endpoints.
    package init(endpoints: [ServiceName: String], logger: Logger) throws {
        var clients: [ServiceName: RPCClient] = [:]
        for (service, endpoint) in endpoints {
            clients[service] = try RPCClient(endpoint: endpoint, logger: logger)
        }
        self.clients = clients
    }

    /// The client for `service`, which must be one of those this was made with.
    package subscript(_ service: ServiceName) -> RPCClient {
        guard let client = clients[service] else { preconditionFailure("no client configured for \(service)") }
        return client
    }

    package func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    package func close() async {
        for client in clients.values { await client.close() }
    }
}
