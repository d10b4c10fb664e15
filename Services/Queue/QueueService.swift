import Contracts
import GRDB
import Logging
import Messaging
import ServiceKit

/// The waiting room: issues queue tokens and admits them in arrival order.
enum QueueService: BackendService {
    static let name = ServiceName.queue
    static let abstract = "The waiting room: issues queue tokens and admits them in arrival order."

    static var migrator: DatabaseMigrator { QueueDatabase.migrator }
    /// Gateways check tokens against these events (`AdmissionView`) and stop trusting them when the
    /// queue has been silent for three heartbeats: a lost revocation must be noticed well within a second.
    static var eventsHeartbeat: Duration { .milliseconds(250) }

    static func assemble(_ context: AssemblyContext) async throws -> ServiceAssembly {
        try await assemble(database: context.database, rules: QueueRules(context.configuration),
                           publisher: context.publisher, logger: context.logger, clock: SystemClock())
    }

    /// The handler table and the admission loop over an opened database: what `serve` runs, and
    /// what the service-level tests run with their own database, endpoint and rules.
    static func assemble(database writer: any DatabaseWriter, rules: QueueRules, publisher: EventPublisher,
                         logger: Logger, clock: any WallClock) async throws -> ServiceAssembly {
        let database = QueueDatabase(writer)
        let room = WaitingRoom(
            database: database,
            signingKey: try await database.signingKey(),
            rules: rules,
            clock: clock,
            publish: { event in
                do {
                    switch event {
                    case .admitted(let body): try publisher.publish(QueueAPI.admittedEvent, body)
                    case .expired(let body): try publisher.publish(QueueAPI.expiredEvent, body)
                    }
                } catch {
                    // Only an unencodable body fails, and correctness never rests on an event arriving.
                    logger.error("event not published", metadata: ["queue.error": .string("\(error)")])
                }
            }
        )
        return ServiceAssembly(handlers: QueueHandlers.handlers(room),
                               loops: [AdmissionLoop(room: room, clock: clock, logger: logger)])
    }
}

extension QueueRules {
    /// The waiting-room variables of CONTRACT §2.
    init(_ configuration: StackConfiguration) {
        self.init(admitPerSecond: configuration.queueAdmitPerSecond, maxActive: configuration.queueMaxActive,
                  activeSeconds: configuration.queueActiveSeconds, idleSeconds: configuration.queueIdleSeconds)
    }
}
