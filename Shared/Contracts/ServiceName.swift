import Messaging

/// The four backend services and where each listens by default (CONTRACT §2).
package enum ServiceName: String, CaseIterable, Sendable, Codable {
    case queue, concert, reservation, payment

    /// The default request/reply port: 7101, 7201, 7301, 7401.
    package var defaultRPCPort: Int { basePort + 1 }
    /// The default event (PUB) port: 7102, 7202, 7302, 7402.
    package var defaultEventsPort: Int { basePort + 2 }

    private var basePort: Int {
        switch self {
        case .queue: 7100
        case .concert: 7200
        case .reservation: 7300
        case .payment: 7400
        }
    }

    /// `<service>.ping`, which every service answers (CONTRACT §5).
    package var ping: RPCMethod<Empty, PingReply> { RPCMethod("\(rawValue).ping", idempotent: true) }
    /// Every backend's metrics in Prometheus text, which the gateway's `/metrics` gathers.
    package var metrics: RPCMethod<Empty, MetricsReply> { RPCMethod("\(rawValue).metrics", idempotent: true) }
    /// `<service>.events`: what a service that publishes from an outbox has numbered after a given
    /// event, for a subscriber catching up (DESIGN §3; `EventCatchUp.swift`).
    package var events: RPCMethod<EventsQuery, EventPage> { RPCMethod("\(rawValue).events", idempotent: true) }
}
