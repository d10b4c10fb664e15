import ArgumentParser
import Contracts
import Foundation
import Logging
import Messaging

/// `<service> probe [method] [json-body]`: asks a running instance over ZeroMQ and prints its reply
/// (CONTRACT §6). Exit 0 on an `ok` reply; 1 with the error reply, or with a one-line reason when
/// nothing answers within the timeout.
package struct ProbeCommand<S: BackendService>: AsyncParsableCommand {
    package static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "probe",
            abstract: "Call a running \(S.name.rawValue) service and print its JSON reply.",
            discussion: """
            Examples:
              \(S.name.rawValue) probe ping
              \(S.name.rawValue) probe \(S.name.rawValue).ping '{}'
            The endpoint defaults to \(S.name.rawValue.uppercased())_RPC.
            """
        )
    }

    @Argument(help: "The method: `ping`, a short name of this service's methods, or a full `<service>.<name>`.")
    var method = "ping"

    @Argument(help: "The request body as JSON.")
    var body = "{}"

    @Option(help: "The service's request endpoint (default: from the environment).")
    var endpoint: String?

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 2

    package init() {}

    package func validate() throws {
        try Probe.validate(timeout: timeout)
        guard (try? JSONSerialization.jsonObject(with: Data(body.utf8))) is [String: Any] else {
            throw ValidationError("the body must be a JSON object, such as '{}'")
        }
    }

    package func run() async throws {
        let target = try endpoint ?? ServiceRunner.loadConfiguration().endpoints(of: S.name).rpc
        let fullMethod = method.contains(".") ? method : "\(S.name.rawValue).\(method)"
        let outcome = await Probe.call(endpoint: target, method: fullMethod, body: Data(body.utf8), timeout: .seconds(timeout))
        print(outcome.output)
        if !outcome.success { throw ExitCode.failure }
    }
}

/// One probe call over ZeroMQ, shared by every service's `probe` and by tests.
package enum Probe {
    package struct Outcome: Sendable {
        package let success: Bool
        /// Pretty JSON of the reply's body or error, or the one-line reason there was none.
        package let output: String
    }

    package static func call(endpoint: String, method: String, body: Data, timeout: Duration) async -> Outcome {
        var logger = Logger(label: "probe")
        logger.logLevel = .critical
        let client: RPCClient
        do {
            client = try RPCClient(endpoint: endpoint, logger: logger, defaultTimeout: timeout)
        } catch {
            return Outcome(success: false, output: "probe: cannot use endpoint \(endpoint): \(error)")
        }
        let outcome = await ask(client, endpoint: endpoint, method: method, body: body, timeout: timeout)
        await client.close()
        return outcome
    }

    private static func ask(_ client: RPCClient, endpoint: String, method: String, body: Data, timeout: Duration) async -> Outcome {
        do {
            let reply = try await client.callRaw(method: method, body: body, idempotent: false)
            let head = try WireCodec.decodeReplyHead(reply)
            if head.ok { return Outcome(success: true, output: pretty(WireCodec.rawBody(of: reply) ?? [String: Any]())) }
            let error = head.error ?? RemoteError.internalError
            return Outcome(success: false, output: pretty(["error": ["code": error.code, "message": error.message]]))
        } catch MessagingError.timeout, MessagingError.unreachable {
            return Outcome(success: false, output: "probe: no answer from \(endpoint) to \(method) within \(timeout)")
        } catch {
            return Outcome(success: false, output: "probe: \(method) at \(endpoint) failed: \(error)")
        }
    }

    /// The `--timeout` rule every probe shares.
    package static func validate(timeout: Double) throws {
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be between 0 and 3600 seconds") }
    }

    static func pretty(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
        else { return "\(object)" }
        return String(decoding: data, as: UTF8.self)
    }
}
