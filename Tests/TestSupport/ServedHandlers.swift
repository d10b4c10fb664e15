import Foundation
import Logging
import Messaging

/// A service's real handler table behind a real `RPCServer` on a private `ipc://` endpoint, and an
/// `RPCClient` connected to it: how service tests call every method over sockets.
package struct ServedHandlers: Sendable {
    package let server: RPCServer
    package let client: RPCClient
    package let folder: TemporaryDirectory

    package static let logger: Logger = {
        var logger = Logger(label: "served-handlers")
        logger.logLevel = .critical
        return logger
    }()

    package init(service: String, handlers: RPCHandlers) throws {
        folder = try TemporaryDirectory(String(service.prefix(6)))
        let endpoint = folder.ipc("rpc")
        server = RPCServer(service: service, endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(10))
    }

    /// The error code `method` answers a raw JSON body with, or nil when it answered ok.
    package func errorCode(_ method: String, _ body: String) async throws -> String? {
        let reply = try await client.callRaw(method: method, body: Data(body.utf8), idempotent: false)
        let head = try WireCodec.decodeReplyHead(reply)
        return head.ok ? nil : head.error?.code
    }

    /// The code of the `RemoteError` a typed call is refused with, nil when it succeeds, or a
    /// description of any other failure.
    package func refusal<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async -> String? {
        do {
            _ = try await client.call(method, request)
            return nil
        } catch let error as RemoteError {
            return error.code
        } catch {
            return "\(error)"
        }
    }

    package func stop() async {
        await client.close()
        await server.stop()
        folder.remove()
    }
}
