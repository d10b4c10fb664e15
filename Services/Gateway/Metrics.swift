import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Messaging
import Metrics
import ServiceKit

/// `/metrics` (CONTRACT §3): the whole stack's metrics in one Prometheus scrape. The gateway's own
/// (requests by route, method and status with their latency, from Hummingbird's `MetricsMiddleware`,
/// and the RPC calls each route made) and each backend's, asked over its `<service>.metrics` RPC
/// as the scrape comes in; every sample is labelled with the `service` it came from.
enum GatewayMetrics {
    /// Counts one RPC call made on behalf of the current route.
    static func countCall(_ method: String, outcome: String) {
        StackMetrics.counter("gateway_rpc_calls", [("route", RequestScope.route), ("rpc_method", method), ("outcome", outcome)]).increment()
    }

    /// Counts one gated request's token check: answered by the gateway's own view of the queue's
    /// events, or by asking the queue.
    static func countTokenCheck(answeredBy: String, active: Bool) {
        StackMetrics.counter("gateway_queue_token_checks", [("answered_by", answeredBy), ("active", active ? "true" : "false")]).increment()
    }

    /// How long a scrape waits for a backend's metrics: a backend that is down or frozen costs the
    /// scrape this much and is reported by `stack_scrape_up`, never a failed scrape.
    static let backendTimeout = Duration.milliseconds(1000)

    /// `GET /metrics`: every service's metrics in Prometheus text format.
    static func routes(_ telemetry: Telemetry, peers: PeerClients) -> RouteCollection<BasicRequestContext> {
        let routes = RouteCollection(context: BasicRequestContext.self)
        routes.get("metrics") { _, _ in
            let backends = await withTaskGroup(of: (ServiceName, String?).self) { group in
                for service in ServiceName.allCases {
                    group.addTask {
                        (service, try? await peers[service].call(service.metrics, Empty(), timeout: backendTimeout).text)
                    }
                }
                return await group.reduce(into: [ServiceName: String?]()) { $0[$1.0] = $1.1 }
            }
            var parts = [(service: "gateway", text: telemetry.prometheusText())]
            var up = "# HELP stack_scrape_up Whether the service answered this scrape's metrics request.\n# TYPE stack_scrape_up gauge\n"
            up += "stack_scrape_up{service=\"gateway\"} 1\n"
            for service in ServiceName.allCases {
                let text = backends[service] ?? nil
                if let text { parts.append((service.rawValue, text)) }
                up += "stack_scrape_up{service=\"\(service.rawValue)\"} \(text == nil ? 0 : 1)\n"
            }
            let merged = PrometheusText.merge(parts) + up
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: merged)))
        }
        return routes
    }
}

/// Merges several processes' Prometheus text into one exposition: each metric family once, with
/// its `# HELP` and `# TYPE` lines, and under it every process's samples, each labelled
/// `service="<name>"`. (Two processes that both record `rpc_server_duration_seconds` would
/// otherwise repeat the family, which Prometheus rejects.)
enum PrometheusText {
    static func merge(_ parts: [(service: String, text: String)]) -> String {
        var order: [String] = []
        var heads: [String: [Substring]] = [:]
        var samples: [String: [String]] = [:]
        var described: Set<String> = []
        for (service, text) in parts {
            var family: String?
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("#") {
                    // `# TYPE name kind` and `# HELP name text` open a family; other comments are dropped.
                    let words = line.split(separator: " ", maxSplits: 3)
                    guard words.count >= 3, words[1] == "TYPE" || words[1] == "HELP" else { continue }
                    let name = String(words[2])
                    family = name
                    if heads[name] == nil {
                        order.append(name)
                        heads[name] = []
                    }
                    // The first process to describe a family describes it for all.
                    if described.insert("\(words[1]) \(name)").inserted { heads[name]?.append(line) }
                    continue
                }
                let name = metricName(of: line)
                // A sample belongs to the family last opened when its name extends it (`_bucket`,
                // `_sum`, `_count`); otherwise to a family of its own name.
                let owner = family.flatMap { name.hasPrefix($0) ? $0 : nil } ?? String(name)
                if heads[owner] == nil {
                    order.append(owner)
                    heads[owner] = []
                }
                samples[owner, default: []].append(labelled(line, nameLength: name.utf8.count, service: service))
            }
        }
        var out = ""
        for name in order {
            for head in heads[name] ?? [] { out += head + "\n" }
            for sample in samples[name] ?? [] { out += sample + "\n" }
        }
        return out
    }

    private static func metricName(of line: Substring) -> Substring {
        line.prefix { $0 != "{" && $0 != " " }
    }

    /// `name{a="b"} 1` as `name{service="x",a="b"} 1`, and `name 1` as `name{service="x"} 1`.
    private static func labelled(_ line: Substring, nameLength: Int, service: String) -> String {
        let name = line.utf8.prefix(nameLength)
        let rest = line.utf8.dropFirst(nameLength)
        let label = "service=\"\(service)\""
        if rest.first == UInt8(ascii: "{") {
            let inner = rest.dropFirst()
            let separator = inner.first == UInt8(ascii: "}") ? "" : ","
            return String(Substring(name)) + "{" + label + separator + String(Substring(inner))
        }
        return String(Substring(name)) + "{" + label + "}" + String(Substring(rest))
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

private let traceparentField = HTTPField.Name(TraceHeader.name)!

/// One line per request at `info` (method, route, status, duration, and the trace id every line
/// carries), and the request's `traceparent` on its answer, so a client can quote the trace it
/// was in. Sits inside `TracingMiddleware`, whose span is the request's.
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        context.logger.debug("request received", metadata: ["http.method": .string(request.method.rawValue)])
        do {
            var response = try await next(request, context)
            if let traceparent = TraceHeader.traceparent() { response.headers[traceparentField] = traceparent }
            log(request, context, status: response.status.code, since: started)
            return response
        } catch {
            log(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, since: started)
            throw error
        }
    }

    private func log(_ request: Request, _ context: Context, status: Int, since started: ContinuousClock.Instant) {
        let micros = Int((ContinuousClock.now - started) / .microseconds(1))
        let fraction = String(1000 + micros % 1000).dropFirst()
        context.logger.info("request", metadata: [
            "http.method": .string(request.method.rawValue),
            "http.route": .string(context.endpointPath ?? "unknown"),
            "http.status": .stringConvertible(status),
            "http.duration_ms": .string("\(micros / 1000).\(fraction)"),
        ])
    }
}
