import AsyncHTTPClient
import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import ServiceKit

/// The `gateway` executable: the HTTP API. `gateway serve` (the default) and `gateway probe`.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway",
        abstract: "The HTTP API in front of the queue, concert, payment and reservation services.",
        discussion: "Configured by the environment variables of CONTRACT §2 (see docs/operating.md).",
        subcommands: [Serve.self, Probe.self],
        defaultSubcommand: Serve.self
    )

    /// `gateway serve`: serves HTTP until SIGTERM or SIGINT.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the HTTP API until SIGTERM or SIGINT.")

        func run() async throws {
            // Swift tasks run on the event loops that read and write the connections, instead of
            // handing every request and its answer across to Swift's own pool and back (two thread
            // switches each; docs/benchmarks.md). First, before any other task is made; nothing the
            // gateway runs in a task blocks a thread.
            let onEventLoops = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
            ServiceRunner.catchEarlySignals()
            let configuration = try ServiceRunner.loadConfiguration()
            let telemetry = try Telemetry.bootstrap(service: "gateway", configuration: configuration)
            let logger = LogSetup.logger("gateway", level: configuration.logLevel)
            if !onEventLoops { logger.warning("Swift tasks stay on Swift's own pool: NIO could not become the global executor") }
            let gateway = try buildApplication(configuration: configuration, logger: logger, telemetry: telemetry)
            // Every request is answered within 3 s (CONTRACT §3), so 5 s lets those in progress at
            // SIGTERM finish; idle connections close at once, so an idle gateway stops at once.
            try await ServiceRunner.run(gateway.services, logger: logger, gracefulLimit: .seconds(5))
        }
    }

    /// `gateway probe ping`: asks a running gateway's `/readyz` (CONTRACT §6).
    struct Probe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "probe",
            abstract: "Ask a running gateway whether the stack is ready and print its answer.",
            discussion: "`gateway probe ping` (or `ready`) asks /readyz; `gateway probe health` asks /healthz."
        )

        @Argument(help: "`ping` or `ready` for /readyz, `health` for /healthz.")
        var what = "ping"

        @Option(help: "The gateway's base URL (default: http://GATEWAY_HOST:GATEWAY_PORT).")
        var url: String?

        @Option(help: "Seconds to wait for the answer.")
        var timeout: Double = 2

        func validate() throws {
            guard ["ping", "ready", "health"].contains(what) else { throw ValidationError("unknown probe '\(what)': use ping, ready or health") }
            try ServiceKit.Probe.validate(timeout: timeout)
        }

        func run() async throws {
            let base: String
            if let url {
                base = url
            } else {
                let configuration = try ServiceRunner.loadConfiguration()
                base = "http://\(configuration.gatewayHost):\(configuration.gatewayPort)"
            }
            let path = what == "health" ? "/healthz" : "/readyz"
            let target = base.hasSuffix("/") ? String(base.dropLast()) + path : base + path
            do {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: target), timeout: .milliseconds(Int64(timeout * 1000)))
                let body = try await response.body.collect(upTo: 1 << 20)
                print(String(buffer: body))
                if response.status != .ok { throw ExitCode.failure }
            } catch let exit as ExitCode {
                throw exit
            } catch {
                print("probe: no answer from \(target) within \(timeout)s: \(error)")
                throw ExitCode.failure
            }
        }
    }
}
