import Foundation
import Hummingbird
import Messaging
import Metrics
import Prometheus
import Synchronization

/// `/metrics` (CONTRACT §3): requests by route, method and status with their latency (Hummingbird's
/// `MetricsMiddleware`), and the RPC calls each route made, by method and outcome, in Prometheus text.
enum GatewayMetrics {
    /// Makes swift-metrics report into a Prometheus registry; once per process, at start.
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Prometheus names allow [a-zA-Z0-9_:] only; swift-metrics labels use dots.
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        // Most answers take a millisecond or two: finer buckets at the low end.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Runs for every metric made, Hummingbird's per request included: names that need no change,
    /// nearly all, are answered as they are.
    static func sanitize(_ name: String) -> String {
        func allowed(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: ":"): true
            default: false
            }
        }
        if name.utf8.allSatisfy(allowed) { return name }
        return String(name.map { $0.isASCII && allowed($0.asciiValue ?? 0) ? $0 : "_" })
    }

    /// The gateway's own counters, made once per set of labels instead of once per count.
    private static let counters = Mutex<[String: Metrics.Counter]>([:])

    private static func counter(_ label: String, _ dimensions: [(String, String)]) -> Metrics.Counter {
        let key = dimensions.reduce(label) { $0 + "\u{1}" + $1.0 + "\u{2}" + $1.1 }
        if let known = counters.withLock({ $0[key] }) { return known }
        let made = Metrics.Counter(label: label, dimensions: dimensions)
        return counters.withLock { counters in
            if let known = counters[key] { return known }
            counters[key] = made
            return made
        }
    }

    /// Counts one RPC call made on behalf of the current route.
    static func countCall(_ method: String, outcome: String) {
        counter("gateway_rpc_calls", [("route", RequestScope.route), ("rpc_method", method), ("outcome", outcome)]).increment()
    }

    /// Counts one gated request's token check: answered by the gateway's own view of the queue's
    /// events, or by asking the queue.
    static func countTokenCheck(answeredBy: String, active: Bool) {
        counter("gateway_queue_token_checks", [("answered_by", answeredBy), ("active", active ? "true" : "false")]).increment()
    }

    /// `GET /metrics`: the registry in Prometheus text format.
    static func routes(_ registry: PrometheusCollectorRegistry) -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("metrics") { _, _ in
            var text = registry.emitToBuffer()
            // Kept by the messaging layer, which knows nothing of metrics: read as it is scraped.
            text.append(contentsOf: Array("""
                # TYPE gateway_rpc_resends_total counter
                gateway_rpc_resends_total \(RPCClient.resendsSent)

                """.utf8))
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: text)))
        }
        return routes
    }
}

/// What one request carries into every call it makes: its route, for labelling the RPC counts, and
/// its deadline, so that the whole request, not each call, answers within the contract's 3 seconds.
enum RequestScope {
    @TaskLocal static var route = "none"
    @TaskLocal static var deadline: ContinuousClock.Instant?
    /// How long a whole request may take before it answers 503.
    static let budget = Duration.milliseconds(2800)
}

/// Sets `RequestScope` for everything a request does.
struct RequestScopeMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await RequestScope.$route.withValue("\(request.method) \(context.endpointPath ?? "unknown")") {
            try await RequestScope.$deadline.withValue(ContinuousClock.now + RequestScope.budget) {
                try await next(request, context)
            }
        }
    }
}
