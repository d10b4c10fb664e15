import Logging
import Messaging
import Metrics
import OTel
import Prometheus
import ServiceLifecycle
import Tracing

/// Where a process's spans go (`TRACE_EXPORTER`): nowhere (`none`, the default; trace ids still
/// travel and are logged), or to an OpenTelemetry collector over OTLP/HTTP (`otlp`, with the
/// standard `OTEL_EXPORTER_OTLP_*` variables for the endpoint, protocol and headers).
package enum TraceExporter: String, Sendable, CaseIterable {
    case none, otlp
}

/// A process's logs, metrics and traces, set up once at start (docs/operating.md, "Observability").
package struct Telemetry: Sendable {
    /// What `/metrics` and the `<service>.metrics` RPC read.
    package let registry: PrometheusCollectorRegistry
    /// Background work to run beside the process's services: swift-otel's exporter when spans are exported.
    package let services: [any Service]

    /// A registry of its own and no exporter, with nothing bootstrapped: for a test that builds a
    /// service in process, where the process-wide systems belong to the test runner.
    package static func standalone() -> Telemetry {
        Telemetry(registry: PrometheusCollectorRegistry(), services: [])
    }

    /// Bootstraps swift-log, swift-metrics (a Prometheus registry) and swift-distributed-tracing.
    /// Once per process, before anything logs or counts.
    package static func bootstrap(service: String, configuration: StackConfiguration) throws -> Telemetry {
        var services: [any Service] = []
        var traceMetadata = LogSetup.propagatedTrace
        switch configuration.traceExporter {
        case .none:
            InstrumentationSystem.bootstrap(PropagatingTracer())
        case .otlp:
            var otel = OTel.Configuration.default
            otel.serviceName = service
            otel.logs.enabled = false
            otel.metrics.enabled = false
            otel.traces.exporter = .otlp
            // Only OTLP/HTTP is built in (Package.swift); OTEL_EXPORTER_OTLP_PROTOCOL may pick its JSON form.
            otel.traces.otlpExporter.protocol = .httpProtobuf
            let backend = try OTel.makeTracingBackend(configuration: otel)
            InstrumentationSystem.bootstrap(backend.factory)
            services.append(backend.service)
            var keys = OTel.Configuration.LoggingMetadataProviderConfiguration.default
            keys.traceIDKey = LogSetup.traceIDKey
            keys.spanIDKey = LogSetup.spanIDKey
            traceMetadata = OTel.makeLoggingMetadataProvider(configuration: keys)
        }
        LogSetup.bootstrap(level: configuration.logLevel, format: configuration.logFormat, service: service, traceMetadata: traceMetadata)
        return Telemetry(registry: bootstrapMetrics(), services: services)
    }

    /// Makes swift-metrics report into a Prometheus registry.
    private static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Prometheus names allow [a-zA-Z0-9_:] only; swift-metrics labels use dots.
        factory.nameAndLabelSanitizer = { name, labels in
            (sanitize(name), labels.map { (sanitize($0.0), $0.1) })
        }
        // Most answers take a millisecond or two: finer buckets at the low end.
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5),
        ]
        factory.defaultValueHistogramBuckets = StackMetrics.sizeBuckets
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Runs for every metric made, Hummingbird's per request included: names that need no change,
    /// nearly all, are answered as they are.
    package static func sanitize(_ name: String) -> String {
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

    /// The registry in Prometheus text, with what the messaging layer counts by itself.
    package func prometheusText() -> String {
        var text = registry.emitToString()
        text += """
            # TYPE rpc_client_resends_total counter
            rpc_client_resends_total \(RPCClient.resendsSent)

            """
        return text
    }
}
