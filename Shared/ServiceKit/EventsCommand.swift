import ArgumentParser
import Foundation
import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// `<service> events --out FILE [--follow]`: appends a service's events to a file, each exactly once
/// and in order, resuming after the file's last line (`OutboxFollower`, `EventLogFile`). Offered by
/// every service that publishes from an outbox; only those can be followed without loss.
package struct EventsCommand<S: BackendService>: AsyncParsableCommand {
    package static var configuration: CommandConfiguration {
        let service = S.name.rawValue
        return CommandConfiguration(
            commandName: "events",
            abstract: "Append the \(service) service's events to a file, each once and in order, resuming where the file ends.",
            discussion: """
            Each event is one JSON line: {"epoch", "seq", "type", "body"}. On start the file's last complete \
            line says where to resume (a torn last line, left by a kill, is cut off), so the command may be \
            killed at any moment and started again: no event is lost and none is written twice.

            Without --follow it writes what the service has published since and exits. With --follow it \
            subscribes, catches up over \(service).events, then writes live events as they come, asking \
            again whenever numbers skip, until SIGTERM or SIGINT.

            Exit status: 0 done or stopped; 1 the file and the service disagree (the service's database is \
            new and its numbering began again, or events were purged before they were written: move the \
            file aside to start over), or the file is unusable or in use; 2 the service did not answer \
            within --timeout. A summary goes to standard error.
            """
        )
    }

    @Option(help: "The file to append to; created if missing.")
    var out: String

    @Flag(help: "Go on writing live events until SIGTERM or SIGINT.")
    var follow = false

    @Option(help: "The service's request endpoint (default: \(S.name.rawValue.uppercased())_RPC).")
    var endpoint: String?

    @Option(help: "The service's event endpoint (default: \(S.name.rawValue.uppercased())_EVENTS).")
    var eventsEndpoint: String?

    @Option(help: "Seconds the service may go without answering before the command gives up.")
    var timeout: Double = 60

    package init() {}

    package func validate() throws {
        try Probe.validate(timeout: timeout)
    }

    package func run() async throws {
        let configuration = try ServiceRunner.loadConfiguration()
        LogSetup.bootstrap(level: configuration.logLevel, format: configuration.logFormat, service: S.name.rawValue)
        let logger = LogSetup.logger("\(S.name.rawValue).events", level: configuration.logLevel)
        let endpoints = configuration.endpoints(of: S.name)
        let file: EventLogFile
        do {
            file = try EventLogFile(path: out)
        } catch {
            Self.say("events: \(error)")
            throw ExitCode.failure
        }
        if file.discardedBytes > 0 {
            Self.say("events: cut a torn last line (\(file.discardedBytes) bytes) off \(out); its event is fetched again")
        }
        let client = try RPCClient(endpoint: endpoint ?? endpoints.rpc, logger: logger)
        var settings = OutboxFollower.Settings()
        settings.patience = .seconds(timeout)
        let follower = OutboxFollower(service: S.name, eventsEndpoint: eventsEndpoint ?? endpoints.events, client: client,
                                      from: file.position, settings: settings, logger: logger)
        let started = file.position
        var failure: (any Error)?
        do {
            try await Self.untilStopped(logger: logger) { [follow] in
                if follow {
                    try await follower.follow(file.append)
                } else {
                    do {
                        try await follower.catchUp(file.append)
                    } catch is CancellationError {
                        // SIGTERM or SIGINT during the catch-up: stopped between two events, which is exit 0.
                    }
                }
            }
        } catch {
            failure = error
        }
        await client.close()
        if let unflushed = file.close(), failure == nil { failure = unflushed }

        let done = follower.statistics
        Self.say("""
            events: \(done.live + done.caughtUp) written to \(out) (\(done.live) live, \(done.caughtUp) caught up in \(done.catchUps) catch-ups), \
            \(done.alreadyHad) live duplicates dropped, \(done.retries) calls retried; from \(started) to \(file.position)
            """)
        guard let failure else { return }
        Self.say("events: \(failure)")
        if case FollowError.unreachable = failure { throw ExitCode(2) }
        throw ExitCode.failure
    }

    /// Runs `body` as the one service of a `ServiceGroup`, so SIGTERM and SIGINT stop it gracefully
    /// (cancelled between two events, never inside a write) the way every process here stops.
    private static func untilStopped(logger: Logger, _ body: @escaping @Sendable () async throws -> Void) async throws {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: StoppableRun(body: body), successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }

    /// A line on standard error, written at once so it never interleaves with a log line.
    private static func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// One piece of work as a `Service`: cancelled when a graceful shutdown begins.
private struct StoppableRun: Service {
    let body: @Sendable () async throws -> Void

    func run() async throws { try await cancelWhenGracefulShutdown(body) }
}
