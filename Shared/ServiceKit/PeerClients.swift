import Contracts
import Logging
import Messaging
import ServiceLifecycle

/// One RPC client per backend service a process calls, made once and shared by all its tasks.
/// As a `Service` it closes them on shutdown, failing calls still in flight at once.
package final class PeerClients: Service {
    private let clients: [ServiceName: RPCClient]

    package init(_ services: [ServiceName], configuration: StackConfiguration, logger: Logger) throws {
        var clients: [ServiceName: RPCClient] = [:]
        for service in services {
            clients[service] = try RPCClient(endpoint: configuration.endpoints(of: service).rpc, logger: logger)
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
