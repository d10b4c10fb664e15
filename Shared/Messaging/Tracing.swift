import Instrumentation
import Synchronization
import Tracing
import W3CTraceContext

/// W3C trace context (`traceparent`) across the stack's hops: the gateway reads it from HTTP, every
/// RPC envelope carries it, and every log line names its trace (docs/operating.md, "Tracing").
///
/// Whatever tracer the process bootstrapped reads and writes it: `PropagatingTracer` by default,
/// which continues the trace and records nothing, or swift-otel's, which exports spans as well.
/// Code here only uses the swift-distributed-tracing API, so it works the same with either.
package enum TraceHeader {
    /// The W3C header's name, also the envelope field's (`"traceparent"`).
    package static let name = "traceparent"

    /// The `traceparent` of `context` as the bootstrapped tracer writes it, or nil outside a trace.
    package static func traceparent(of context: InstrumentationContext? = InstrumentationContext.current) -> String? {
        guard let context else { return nil }
        var carrier = TraceCarrier()
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: TraceCarrier.Access())
        return carrier.traceparent
    }

    /// A context continuing the trace of `traceparent`; a top-level context when it is nil or not
    /// a valid header (a peer's bad header starts a new trace rather than failing the request).
    package static func context(continuing traceparent: String?) -> InstrumentationContext {
        var context = InstrumentationContext.topLevel
        guard let traceparent else { return context }
        InstrumentationSystem.instrument.extract(TraceCarrier(traceparent: traceparent), into: &context, using: TraceCarrier.Access())
        return context
    }

    /// Runs `body` in a span named `operation`, continuing the trace of `traceparent` when there is
    /// one: what a saga resumed after a restart does to join the request that started it.
    package static func withSpan<T>(
        _ operation: String,
        continuing traceparent: String?,
        ofKind kind: SpanKind = .internal,
        _ body: () async throws -> T
    ) async throws -> T {
        let parent = traceparent.map { context(continuing: $0) } ?? InstrumentationContext.current ?? .topLevel
        return try await Tracing.withSpan(operation, context: parent, ofKind: kind) { _ in try await body() }
    }
}

/// The one header a trace travels in, as a carrier for `inject` and `extract`.
package struct TraceCarrier: Sendable {
    package var traceparent: String?

    package init(traceparent: String? = nil) {
        self.traceparent = traceparent
    }

    package struct Access: Injector, Extractor {
        package init() {}

        package func inject(_ value: String, forKey key: String, into carrier: inout TraceCarrier) {
            if key == TraceHeader.name { carrier.traceparent = value }
        }

        package func extract(key: String, from carrier: TraceCarrier) -> String? {
            key == TraceHeader.name ? carrier.traceparent : nil
        }
    }
}

extension InstrumentationContext {
    /// The W3C trace context `PropagatingTracer` keeps (swift-otel keeps its own).
    package var traceContext: TraceContext? {
        get { self[TraceContextKey.self] }
        set { self[TraceContextKey.self] = newValue }
    }
}

private enum TraceContextKey: InstrumentationContextKey {
    typealias Value = TraceContext
    static let nameOverride: String? = "w3c-trace-context"
}

/// The tracer every process uses unless it exports spans: it continues the caller's trace (or
/// starts one), gives each span its own id, and sends `traceparent` on, so log lines across the
/// five processes carry one trace id. It records nothing, so a span costs little more than its id (`SpanIDGenerator`).
package struct PropagatingTracer: Tracer {
    package init() {}

    package func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> InstrumentationContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> PropagatedSpan {
        var context = context()
        var random = SpanIDGenerator()
        let parent = context.traceContext
        context.traceContext = TraceContext(
            traceID: parent?.traceID ?? .random(using: &random),
            spanID: .random(using: &random),
            flags: parent?.flags ?? .sampled,
            state: parent?.state ?? TraceState()
        )
        return PropagatedSpan(context: context)
    }

    package func forceFlush() {}

    package func inject<Carrier, Inject: Injector>(_ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let trace = context.traceContext else { return }
        injector.inject(trace.traceParentHeaderValue, forKey: TraceHeader.name, into: &carrier)
    }

    package func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: TraceHeader.name, from: carrier),
              let trace = try? TraceContext(traceParentHeaderValue: header) else { return }
        context.traceContext = trace
    }
}

/// Trace and span ids without a system call each: SplitMix64 over a counter seeded once from the
/// system's random source. Ids need to be unique and spread evenly, not secret, and
/// `SystemRandomNumberGenerator` costs a `getrandom(2)` per 8 bytes (measured at 2–3% of the
/// queue's and the gateway's CPU issuing tokens). SplitMix64's mix is a bijection of the counter,
/// so no two draws of one process repeat; processes start from their own random seeds.
struct SpanIDGenerator: RandomNumberGenerator {
    /// The process's sequence, which every span draws from.
    static let shared = Sequence(seed: UInt64.random(in: .min ... .max))

    final class Sequence: Sendable {
        private let counter: Atomic<UInt64>

        init(seed: UInt64) {
            counter = Atomic(seed)
        }

        /// The next id: the counter stepped by the golden gamma (wrapping), then mixed.
        func draw() -> UInt64 {
            var z = counter.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    private let sequence: Sequence

    init(_ sequence: Sequence = SpanIDGenerator.shared) {
        self.sequence = sequence
    }

    mutating func next() -> UInt64 { sequence.draw() }
}

/// A span of `PropagatingTracer`: its context and nothing else.
package struct PropagatedSpan: Span {
    package let context: InstrumentationContext
    package var isRecording: Bool { false }
    package var operationName: String {
        get { "" }
        nonmutating set {}
    }
    package var attributes: SpanAttributes {
        get { [:] }
        nonmutating set {}
    }
    package func setStatus(_ status: SpanStatus) {}
    package func addLink(_ link: SpanLink) {}
    package func addEvent(_ event: SpanEvent) {}
    package func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
    package func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {}
}
