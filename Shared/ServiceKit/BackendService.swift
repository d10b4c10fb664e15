import ArgumentParser
import Contracts
import Foundation
import GRDB
import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// What a backend service is given to assemble itself.
package struct AssemblyContext: Sendable {
    package let configuration: StackConfiguration
    package let logger: Logger
    /// The service's own SQLite file, migrated.
    package let database: DatabasePool
    /// The service's event endpoint.
    package let publisher: EventPublisher
}

/// What a backend service runs: its handler table, and its long-running loops (sweepers, ticks, relays).
package struct ServiceAssembly: Sendable {
    package var handlers: RPCHandlers
    package var loops: [any Service]

    package init(handlers: RPCHandlers, loops: [any Service] = []) {
        self.handlers = handlers
        self.loops = loops
    }
}

/// A backend service: `queue`, `concert`, `payment` or `reservation`. Each conforms once, and
/// `ServeCommand` and `ProbeCommand` do the rest the same way for all four.
package protocol BackendService {
    static var name: ServiceName { get }
    /// One line for `--help`.
    static var abstract: String { get }
    /// The migrations of the service's SQLite file. Never edit a migration once it has landed.
    static var migrator: DatabaseMigrator { get }
    /// Builds the handler table and loops over the opened database.
    static func assemble(_ context: AssemblyContext) async throws -> ServiceAssembly
    /// True when the service's events come from an `Outbox` in its database, whose durable
    /// numbering the publisher then continues; false for events numbered afresh each start.
    static var publishesFromOutbox: Bool { get }
    /// Operator commands of this service alone, beside `serve`, `probe`, `backup` and `restore`.
    static var extraCommands: [any ParsableCommand.Type] { get }
    /// How often the event endpoint says its latest number: how soon a subscriber notices an event
    /// lost at the tail, or a publisher gone silent.
    static var eventsHeartbeat: Duration { get }
}

extension BackendService {
    package static var publishesFromOutbox: Bool { false }
    package static var eventsHeartbeat: Duration { .seconds(1) }
    package static var extraCommands: [any ParsableCommand.Type] { [] }
}

extension BackendService {
    /// The root command of the service's executable: `serve` (the default), `probe`, `backup`, `restore`,
    /// and `events` for a service that publishes from an outbox (only such a one can be followed without loss).
    package static var commandConfiguration: CommandConfiguration {
        CommandConfiguration(
            commandName: name.rawValue,
            abstract: abstract,
            discussion: "Configured by the environment variables of CONTRACT §2 (see docs/operating.md).",
            subcommands: [ServeCommand<Self>.self, ProbeCommand<Self>.self, BackupCommand<Self>.self, RestoreCommand<Self>.self]
                + (publishesFromOutbox ? [EventsCommand<Self>.self] : []) + extraCommands,
            defaultSubcommand: ServeCommand<Self>.self
        )
    }

    /// Opens the database, assembles the service and runs it until SIGTERM or SIGINT.
    package static func serve(configuration: StackConfiguration) async throws {
        let telemetry = try Telemetry.bootstrap(service: name.rawValue, configuration: configuration)
        let logger = LogSetup.logger(name.rawValue, level: configuration.logLevel)
        let endpoints = configuration.endpoints(of: name)
        let database = try DatabaseOpener.openPool(path: configuration.databasePath(of: name), migrator: migrator)
        let publisher: EventPublisher
        if publishesFromOutbox {
            let numbering = try Outbox.numbering(database)
            publisher = EventPublisher(source: name.rawValue, endpoint: endpoints.eventsBind, logger: logger,
                                       epoch: numbering.epoch, lastSequence: numbering.publishedThrough,
                                       heartbeatInterval: eventsHeartbeat)
        } else {
            publisher = EventPublisher(source: name.rawValue, endpoint: endpoints.eventsBind, logger: logger,
                                       heartbeatInterval: eventsHeartbeat)
        }
        let assembly = try await assemble(AssemblyContext(configuration: configuration, logger: logger,
                                                        database: database, publisher: publisher))
        var handlers = assembly.handlers
        handlers.on(name.metrics) { _ in MetricsReply(text: telemetry.prometheusText()) }
        let server = RPCServer(service: name.rawValue, endpoint: endpoints.rpcBind, handlers: handlers, logger: logger)
        let readiness = ReadinessReport(status: "answering on \(endpoints.rpcBind), publishing on \(endpoints.eventsBind)",
                                        logger: logger) { publisher.isBound && server.isBound }
        // Started in this order and stopped in reverse: requests stop first, events last.
        try await ServiceRunner.run(telemetry.services + [publisher] + assembly.loops + [server, readiness], logger: logger)
    }
}

/// `<service> serve`: runs the service in the foreground.
package struct ServeCommand<S: BackendService>: AsyncParsableCommand {
    package static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "serve", abstract: "Run the \(S.name.rawValue) service until SIGTERM or SIGINT.")
    }

    package init() {}

    package func run() async throws {
        ServiceRunner.catchEarlySignals()
        try await S.serve(configuration: try ServiceRunner.loadConfiguration())
    }
}

/// Set by the early signal handler of `ServiceRunner.catchEarlySignals`; a lock-free store is safe in a signal handler.
private let earlyStopRequested = Atomic<Bool>(false)

/// Runs a process's services as one `ServiceGroup`.
package enum ServiceRunner {
    /// Reads the environment, or stops the process with a one-line reason and exit code 2.
    package static func loadConfiguration() throws -> StackConfiguration {
        do {
            try FailPoint.validate()
            return try StackConfiguration.fromEnvironment()
        } catch {
            FileHandle.standardError.write(Data("configuration error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Runs until SIGTERM or SIGINT, then stops the services in reverse order. Shutdown is bounded,
    /// so an unreachable peer can never hold the process up: whatever has not stopped after
    /// `gracefulLimit` is cancelled.
    /// Remembers a SIGTERM or SIGINT that arrives while the process is still starting (opening its
    /// database, resuming sagas), before the service group handles signals itself; `run` then stops
    /// gracefully at once. Without it such a signal would kill the process outright. Call it first.
    package static func catchEarlySignals() {
        signal(SIGTERM) { _ in earlyStopRequested.store(true, ordering: .relaxed) }
        signal(SIGINT) { _ in earlyStopRequested.store(true, ordering: .relaxed) }
    }

    package static func run(_ services: [any Service], logger: Logger, gracefulLimit: Duration = .milliseconds(1500)) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = gracefulLimit
        configuration.maximumCancellationDuration = .milliseconds(300)
        let group = ServiceGroup(configuration: configuration)
        // The group installs its own signal handling as it starts; a signal caught before that is
        // passed on here, checked for long enough to cover the group's start.
        let earlySignal = Task {
            for _ in 0..<50 where !Task.isCancelled {
                if earlyStopRequested.load(ordering: .relaxed) {
                    logger.notice("stop requested while starting")
                    await group.triggerGracefulShutdown()
                    return
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { earlySignal.cancel() }
        try await group.run()
        logger.info("stopped")
    }
}
