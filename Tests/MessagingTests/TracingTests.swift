import Foundation
import Logging
import Testing
import TestSupport
import Tracing
import W3CTraceContext
@testable import Messaging

/// W3C trace context in the envelope and across a real RPC hop.
@Suite("Trace context: the envelope's traceparent, PropagatingTracer, one hop")
struct TracingTests {
    static let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let header = "00-\(traceID)-00f067aa0ba902b7-01"

    @Test("a request's traceparent is read on its first bytes and by the full parse alike; one without it still scans")
    func envelope() throws {
        let frame = WireCodec.encodeRequest(id: "1-2-3", method: "concert.hold", traceparent: Self.header, body: Data("{}".utf8))
        #expect(String(decoding: frame, as: UTF8.self)
            == #"{"v":1,"id":"1-2-3","method":"concert.hold","traceparent":"\#(Self.header)","body":{}}"#)
        let scanned = try #require(WireCodec.scanRequestHead(frame))
        #expect(scanned.traceparent == Self.header)
        #expect(try WireCodec.decodeRequestHead(frame) == scanned)
        #expect(try WireCodec.decodeRequest(Empty.self, from: frame, routedBy: scanned) == Empty())
        let plain = WireCodec.encodeRequest(id: "1-2-4", method: "concert.hold", body: Data("{}".utf8))
        #expect(WireCodec.scanRequestHead(plain) == RequestHead(v: 1, id: "1-2-4", method: "concert.hold"))
        // Another peer's layout (the field after the body) is parsed in full, so its trace is kept.
        let other = Data(#"{"v":1,"id":"9","method":"concert.hold","body":{},"traceparent":"\#(Self.header)"}"#.utf8)
        #expect(WireCodec.scanRequestHead(other) == nil)
        let parsed = try WireCodec.decodeRequestHead(other)
        #expect(parsed.traceparent == Self.header)
        #expect(try WireCodec.decodeRequest(Empty.self, from: other, routedBy: parsed) == Empty())
        // Named twice: the frame is routed and read by the same one of the two, or refused.
        let twice = Data(#"{"v":1,"id":"9","method":"concert.hold","traceparent":"a","body":{},"traceparent":"b"}"#.utf8)
        if let head = WireCodec.scanRequestHead(twice) {
            let read = Result { try WireCodec.decodeRequest(Empty.self, from: twice, routedBy: head) }
            let full = try? WireCodec.decodeRequestHead(twice)
            #expect(full?.traceparent == head.traceparent || (try? read.get()) == nil)
        }
    }

    @Test("the tracer continues a valid header with a new span id, starts a trace without one, and ignores a malformed one")
    func propagation() throws {
        let tracer = PropagatingTracer()
        var context = InstrumentationContext.topLevel
        tracer.extract(TraceCarrier(traceparent: Self.header), into: &context, using: TraceCarrier.Access())
        #expect(context.traceContext?.traceID.description == Self.traceID)
        let child = tracer.startSpan("child", context: context, ofKind: .server, at: DefaultTracerClock.now,
                                     function: #function, file: #fileID, line: #line)
        #expect(child.context.traceContext?.traceID.description == Self.traceID)
        #expect(child.context.traceContext?.spanID.description != "00f067aa0ba902b7")
        var carrier = TraceCarrier()
        tracer.inject(child.context, into: &carrier, using: TraceCarrier.Access())
        let written = try #require(carrier.traceparent)
        #expect(written.hasPrefix("00-\(Self.traceID)-") && written.hasSuffix("-01") && written.count == 55, "\(written)")

        let root = tracer.startSpan("root", context: .topLevel, ofKind: .server, at: DefaultTracerClock.now,
                                    function: #function, file: #fileID, line: #line)
        #expect(root.context.traceContext != nil && root.context.traceContext?.traceID.description != Self.traceID)

        for malformed in ["", "00-xyz", "ff-\(Self.traceID)-00f067aa0ba902b7-01", "00-\(String(repeating: "0", count: 32))-00f067aa0ba902b7-01"] {
            var ignored = InstrumentationContext.topLevel
            tracer.extract(TraceCarrier(traceparent: malformed), into: &ignored, using: TraceCarrier.Access())
            #expect(ignored.traceContext == nil, "\(malformed)")
        }
    }

    @Test("span ids come from a sequence that wraps around instead of trapping, and does not repeat")
    func spanIDs() {
        let sequence = SpanIDGenerator.Sequence(seed: .max - 0x9E37_79B9_7F4A_7C15)
        var generator = SpanIDGenerator(sequence)
        let drawn = (0..<10_000).map { _ in generator.next() }
        #expect(Set(drawn).count == drawn.count)
        #expect(Set(drawn.map { $0 >> 60 }).count == 16, "the top bits spread over every value")
    }

    struct Seen: Codable, Sendable {
        let traceID: String?
        let spanID: String?
    }

    static let seen = RPCMethod<Empty, Seen>("trace.seen", idempotent: true)

    @Test("a call made in a trace reaches the handler in a child span of it; a call outside any trace gets a trace of its own")
    func hop() async throws {
        TestTracing.bootstrap()
        var handlers = RPCHandlers()
        handlers.on(Self.seen) { _ in
            let trace = InstrumentationContext.current?.traceContext
            return Seen(traceID: trace?.traceID.description, spanID: trace?.spanID.description)
        }
        let served = try ServedHandlers(service: "trace", handlers: handlers)
        let parent = TraceHeader.context(continuing: Self.header)
        let inside = try await InstrumentationContext.$current.withValue(parent) {
            try await served.client.call(Self.seen, Empty())
        }
        let outside = try await served.client.call(Self.seen, Empty())
        await served.stop()
        #expect(inside.traceID == Self.traceID)
        #expect(inside.spanID != nil && inside.spanID != "00f067aa0ba902b7")
        #expect(outside.traceID != nil && outside.traceID != Self.traceID)
    }
}
