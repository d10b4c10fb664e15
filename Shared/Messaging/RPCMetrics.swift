import Metrics
import Synchronization

/// swift-metrics handles made once per name and labels, not once per count: making one asks the
/// factory (a lock and a registry lookup), counting on a made one is an atomic add. Every metric
/// the stack records goes through here. Without a bootstrapped factory (tests, probes) they count
/// into nothing.
package enum StackMetrics {
    private static let made = Mutex<[String: any Sendable]>([:])

    private static func handle<Handle: Sendable>(_ label: String, _ dimensions: [(String, String)], make: () -> Handle) -> Handle {
        var key = label
        for (name, value) in dimensions { key += "\u{1}" + name + "\u{2}" + value }
        return made.withLock { made in
            if let known = made[key] as? Handle { return known }
            let handle = make()
            made[key] = handle
            return handle
        }
    }

    package static func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        handle(label, dimensions) { Counter(label: label, dimensions: dimensions) }
    }

    package static func timer(_ label: String, _ dimensions: [(String, String)] = []) -> Metrics.Timer {
        handle(label, dimensions) { Metrics.Timer(label: label, dimensions: dimensions) }
    }

    package static func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge {
        handle(label, dimensions) { Gauge(label: label, dimensions: dimensions) }
    }

    /// A distribution of counts (batch sizes): a histogram over `StackMetrics.sizeBuckets`.
    package static func sizes(_ label: String, _ dimensions: [(String, String)] = []) -> Recorder {
        handle(label, dimensions) { Recorder(label: label, dimensions: dimensions, aggregate: true) }
    }

    /// The buckets of every `sizes` histogram: powers of two up to the largest group commit.
    package static let sizeBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
}

/// What an RPC server records per request: its latency and outcome by method, and the requests
/// its handlers are running (`rpc_server_in_flight`). Method labels are the registered names
/// only; a request for any other is counted under `unknown`, so a client cannot grow the series.
struct RPCServerMetrics: Sendable {
    static let unknownMethod = "unknown"
    let inFlight = StackMetrics.gauge("rpc_server_in_flight")
    private let latency: [String: Metrics.Timer]

    init(methods: [String]) {
        var latency: [String: Metrics.Timer] = [:]
        for method in methods + [Self.unknownMethod] {
            latency[method] = StackMetrics.timer("rpc_server_duration_seconds", [("method", method)])
        }
        self.latency = latency
    }

    /// Counts one answered request (`failure` nil when it answered ok) and times it from its arrival.
    func handled(_ method: String, failure: (any Error)?, since arrived: ContinuousClock.Instant) {
        let method = latency[method] == nil ? Self.unknownMethod : method
        latency[method]?.recordDuration(ContinuousClock.now - arrived)
        let outcome = switch failure {
        case nil: "ok"
        case let error as RemoteError: error.code
        default: RemoteError.internalError.code
        }
        StackMetrics.counter("rpc_server_requests_total", [("method", method), ("outcome", outcome)]).increment()
    }
}

extension Metrics.Timer {
    func recordDuration(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension Result {
    /// The error of a failure, nil for a success.
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
