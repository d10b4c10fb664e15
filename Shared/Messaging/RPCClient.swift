import Foundation
import Logging
import Metrics
import Synchronization
import Tracing
import ZeroMQ

/// Why a call did not get an answer. A `RemoteError` is thrown instead when the service answered no.
package enum MessagingError: Error, Equatable, CustomStringConvertible {
    /// The request was sent but no reply came before the deadline: the outcome is unknown.
    case timeout(method: String, endpoint: String)
    /// No connection to the service could be made before the deadline: the request was never sent.
    case unreachable(method: String, endpoint: String)
    /// The reply could not be read.
    case malformedReply(method: String, reason: String)
    /// The client was closed.
    case closed
    /// libzmq refused an operation.
    case socket(ZMQError)

    package var description: String {
        switch self {
        case .timeout(let method, let endpoint): "\(method) got no reply from \(endpoint) in time"
        case .unreachable(let method, let endpoint): "\(method) could not reach \(endpoint)"
        case .malformedReply(let method, let reason): "\(method) got an unreadable reply: \(reason)"
        case .closed: "the RPC client is closed"
        case .socket(let error): error.description
        }
    }
}

/// A DEALER connected to one service, shared by any number of Swift tasks at once.
///
/// Each call gets a unique id; replies are matched by it, so calls complete in any order. Every call
/// has a deadline and fails with `MessagingError.timeout` (sent, unanswered) or `.unreachable`
/// (never sent: ZMQ_IMMEDIATE queues only to live connections). Calls to idempotent methods are
/// sent again with backoff until the deadline, so a restarted service still answers them; any call
/// turned away unhandled (`busy`, `shutting_down`) is sent again too.
package final class RPCClient: SocketLoopDriver {
    package let endpoint: String
    package let defaultTimeout: Duration
    private let logger: Logger
    private let idPrefix: String
    private let state = Mutex(State())
    private let loop = Mutex<SocketLoop?>(nil)

    /// How soon an unanswered idempotent call is sent again, doubling per attempt up to `maxResendInterval`.
    static let firstResendInterval = Duration.milliseconds(250)
    static let maxResendInterval = Duration.seconds(2)
    /// Refusals a server gives before running any handler, so that sending again is always safe.
    static let refusedUnhandled: Set<String> = [RemoteError.busy.code, RemoteError.shuttingDown.code]
    static let refusedRetryInterval = Duration.milliseconds(50)
    /// How often a call that found no connected peer tries again.
    static let unsentRetryInterval = Duration.milliseconds(10)

    /// Requests sent again (no answer in time, or turned away unhandled) by every client of this
    /// process: the load a figure pays for overload rather than for work (`<service>.ping` reports it).
    package static var resendsSent: Int { resends.load(ordering: .relaxed) }
    private static let resends = Atomic<Int>(0)

    private struct Pending {
        let method: String
        let frame: Data
        let deadline: ContinuousClock.Instant
        let idempotent: Bool
        let continuation: CheckedContinuation<Data, any Error>
        var sent = false
        /// Copies sent so far; every one after the first is a resend.
        var sends = 0
        var nextSend: ContinuousClock.Instant
        var resendInterval = RPCClient.firstResendInterval
    }

    private struct State {
        var pending: [String: Pending] = [:]
        /// Calls not sent yet, in the order they were made: the socket's thread sends them as it
        /// wakes, without looking at the calls already sent.
        var fresh: [String] = []
        /// The soonest moment a call already sent (or waiting to be retried) needs the socket's
        /// thread: a resend or a deadline. Until then a wake-up scans no pending call.
        var nextScan: ContinuousClock.Instant?
        var nextID: UInt64 = 0
        var closed = false

        mutating func scan(by instant: ContinuousClock.Instant) {
            nextScan = nextScan.map { min($0, instant) } ?? instant
        }
    }

    /// Connects to `endpoint` (the connection itself is made in the background and remade after failures).
    package init(endpoint: String, logger: Logger, defaultTimeout: Duration = .seconds(2)) throws(ZMQError) {
        self.endpoint = endpoint
        self.defaultTimeout = defaultTimeout
        var logger = logger
        logger[metadataKey: "rpc.endpoint"] = .string(endpoint)
        self.logger = logger
        self.idPrefix = "\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        let socket = try ZMQSocket(.dealer)
        try socket.applyStandardOptions()
        try socket.set(.immediate(true))
        try socket.set(.reconnectInterval(milliseconds: 100))
        try socket.connect(endpoint)
        let started = try SocketLoop(name: "rpc-client \(endpoint)", socket: socket, driver: self)
        loop.withLock { $0 = started }
    }

    /// Calls `method` and decodes its reply. Throws `RemoteError` when the service refused,
    /// `MessagingError` when there was no usable answer by the deadline.
    package func call<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ request: Request,
        timeout: Duration? = nil
    ) async throws -> Response {
        try Self.decodeReply(Response.self, try await replyFrame(method, request, timeout: timeout), method: method.name)
    }

    /// Calls `method` and answers its reply's body as the JSON the service wrote, undecoded, for a
    /// caller that passes it on. Refusals and failures are thrown as by `call`.
    package func callForBody<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ request: Request,
        timeout: Duration? = nil
    ) async throws -> Data {
        let reply = try await replyFrame(method, request, timeout: timeout)
        if let body = WireCodec.successfulReplyBody(reply) { return body }
        // Any other shape is read whole: an error is thrown, a success of another layout encoded again.
        return try WireCodec.encoder.encode(Self.decodeReply(Response.self, reply, method: method.name))
    }

    /// The whole reply envelope to a typed request.
    private func replyFrame<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request, timeout: Duration?) async throws -> Data {
        try await callRaw(method: method.name, body: try WireCodec.encoder.encode(request), idempotent: method.idempotent, timeout: timeout)
    }

    /// One parse of the whole reply, head and body together.
    private static func decodeReply<Response: Decodable>(_ type: Response.Type, _ reply: Data, method: String) throws -> Response {
        let decoded: (v: Int, outcome: Result<Response, RemoteError>)
        do {
            decoded = try WireCodec.decodeReply(Response.self, from: reply)
        } catch {
            // An error reply whose body does not fit still carries its error; anything else is unreadable.
            if let head = try? WireCodec.decodeReplyHead(reply), !head.ok, head.v == WireCodec.version {
                throw head.error ?? RemoteError.internalError
            }
            let reason = (error as? DecodingError).map(WireCodec.describe) ?? "\(error)"
            throw MessagingError.malformedReply(method: method, reason: reason)
        }
        guard decoded.v == WireCodec.version else {
            throw MessagingError.malformedReply(method: method, reason: "envelope version \(decoded.v)")
        }
        return try decoded.outcome.get()
    }

    /// Sends a request whose body is already JSON; returns the whole reply envelope. Inside a
    /// trace the call is a client span, and its context travels in the envelope's `traceparent`.
    package func callRaw(method: String, body: Data, idempotent: Bool, timeout: Duration? = nil) async throws -> Data {
        guard InstrumentationContext.current != nil else {
            return try await counted(method) { try await send(method: method, body: body, idempotent: idempotent, timeout: timeout, traceparent: nil) }
        }
        return try await withSpan(method, ofKind: .client) { span in
            try await counted(method) {
                try await send(method: method, body: body, idempotent: idempotent, timeout: timeout,
                               traceparent: TraceHeader.traceparent(of: span.context))
            }
        }
    }

    /// Counts the call's outcome (`rpc_client_calls_total`) and the calls in flight.
    private func counted(_ method: String, _ call: () async throws -> Data) async throws -> Data {
        Self.changeInFlight(by: 1)
        defer { Self.changeInFlight(by: -1) }
        let outcome: String
        do {
            let reply = try await call()
            // A reply of this project's layout is matched on its first bytes; any other is read.
            outcome = WireCodec.scanSuccessfulReplyID(reply) != nil ? "ok"
                : (try? WireCodec.decodeReplyHead(reply)).map { $0.ok ? "ok" : ($0.error?.code ?? RemoteError.internalError.code) } ?? "malformed_reply"
            StackMetrics.counter("rpc_client_calls_total", [("method", method), ("outcome", outcome)]).increment()
            return reply
        } catch {
            outcome = switch error {
            case MessagingError.timeout: "timeout"
            case MessagingError.unreachable: "unreachable"
            case is CancellationError: "cancelled"
            case let refusal as RemoteError: refusal.code
            default: "failed"
            }
            StackMetrics.counter("rpc_client_calls_total", [("method", method), ("outcome", outcome)]).increment()
            throw error
        }
    }

    /// Calls in flight in this process, recorded under the lock that counts them, so two calls
    /// ending at once cannot record their counts in the opposite order and leave the gauge wrong.
    private static let calling = Mutex<Int>(0)
    private static let inFlight = StackMetrics.gauge("rpc_client_in_flight")

    private static func changeInFlight(by change: Int) {
        calling.withLock { calling in
            calling += change
            inFlight.record(calling)
        }
    }

    private func send(method: String, body: Data, idempotent: Bool, timeout: Duration?, traceparent: String?) async throws -> Data {
        let id = state.withLock { state in
            state.nextID &+= 1
            return "\(idPrefix)-\(state.nextID)"
        }
        let frame = WireCodec.encodeRequest(id: id, method: method, traceparent: traceparent, body: body)
        // The server would drop the whole connection, and every call sharing it, for a larger frame.
        guard frame.count <= WireCodec.maxFrameBytes else { throw RemoteError.tooLarge }
        let deadline = ContinuousClock.now + (timeout ?? defaultTimeout)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, any Error>) in
                let refusal: (any Error)? = state.withLock { state in
                    if state.closed { return MessagingError.closed }
                    if Task.isCancelled { return CancellationError() }
                    state.pending[id] = Pending(method: method, frame: frame, deadline: deadline, idempotent: idempotent,
                                                continuation: continuation, nextSend: .now)
                    state.fresh.append(id)
                    return nil
                }
                if let refusal {
                    continuation.resume(throwing: refusal)
                } else {
                    // Sent from this thread when the socket is free: no hand-off to the socket's thread.
                    loop.withLock { $0 }?.serviceNow(self)
                }
            }
        } onCancel: {
            let cancelled = state.withLock { $0.pending.removeValue(forKey: id) }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Fails every call in flight with `MessagingError.closed` and stops the socket's thread.
    /// A client lives until closed: its thread keeps it alive.
    package func close() async {
        let abandoned = state.withLock { state in
            state.closed = true
            defer { state.pending = [:] }
            return Array(state.pending.values)
        }
        for call in abandoned { call.continuation.resume(throwing: MessagingError.closed) }
        await loop.withLock { $0 }?.stop()
    }

    // MARK: SocketLoopDriver (on the socket's thread)

    func received(_ frames: [Data]) {
        guard let frame = frames.last else { return }
        // A successful reply is matched on its first bytes; the caller parses it once, in full.
        if let id = WireCodec.scanSuccessfulReplyID(frame) {
            complete(id, with: frame)
            return
        }
        guard let head = try? WireCodec.decodeReplyHead(frame) else {
            logger.warning("unreadable reply dropped")
            return
        }
        if let refusal = head.error, Self.refusedUnhandled.contains(refusal.code) {
            // The server turned this copy away before handling it: send again shortly, until the deadline.
            state.withLock { state in
                guard var call = state.pending[head.id] else { return }
                if !call.idempotent { call.sent = false }
                call.nextSend = .now + Self.refusedRetryInterval
                state.pending[head.id] = call
                state.scan(by: call.nextSend)
            }
            return
        }
        complete(head.id, with: frame)
    }

    private func complete(_ id: String, with frame: Data) {
        // A reply whose caller already gave up (deadline, cancellation, an earlier copy) finds nothing.
        guard let call = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        call.continuation.resume(returning: frame)
    }

    /// Sends the calls made since the last wake-up; only when a resend or a deadline is due does it
    /// look through every call in flight (expiring the overdue, resending the unanswered).
    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration? {
        var expired: [Pending] = []
        let (fresh, due): ([String], [String]) = state.withLock { state in
            let fresh = state.fresh
            state.fresh = []
            guard let scan = state.nextScan, scan <= now else { return (fresh, []) }
            var due: [String] = []
            state.nextScan = nil
            // The fresh calls are sent below, and scheduled then.
            let sendingNow = Set(fresh)
            for (id, call) in state.pending where !sendingNow.contains(id) {
                let retries = !call.sent || call.idempotent
                if call.deadline <= now {
                    expired.append(call)
                    state.pending[id] = nil
                } else if retries && call.nextSend <= now {
                    due.append(id)
                } else {
                    state.scan(by: retries ? min(call.deadline, call.nextSend) : call.deadline)
                }
            }
            return (fresh, due)
        }
        for call in expired {
            let error: MessagingError = call.sent
                ? .timeout(method: call.method, endpoint: endpoint)
                : .unreachable(method: call.method, endpoint: endpoint)
            call.continuation.resume(throwing: error)
        }
        var failed: [(Pending, ZMQError)] = []
        for id in fresh + due {
            guard let frame = state.withLock({ $0.pending[id]?.frame }) else { continue }
            var outcome: ZMQError?
            do {
                // One frame: a single-part send is queued whole or not at all.
                try socket.send([frame])
            } catch {
                outcome = error
            }
            state.withLock { state in
                guard var call = state.pending[id] else { return }
                switch outcome {
                case nil:
                    if call.sends > 0 { Self.resends.add(1, ordering: .relaxed) }
                    call.sends += 1
                    call.sent = true
                    call.nextSend = now + call.resendInterval
                    call.resendInterval = min(call.resendInterval * 2, Self.maxResendInterval)
                    state.pending[id] = call
                    state.scan(by: call.idempotent ? min(call.deadline, call.nextSend) : call.deadline)
                case let error? where error.wouldBlock:
                    // No live connection yet (or the queue is full): try again shortly.
                    call.nextSend = now + Self.unsentRetryInterval
                    state.pending[id] = call
                    state.scan(by: min(call.deadline, call.nextSend))
                case let error?:
                    state.pending[id] = nil
                    failed.append((call, error))
                }
            }
        }
        for (call, error) in failed { call.continuation.resume(throwing: MessagingError.socket(error)) }
        return state.withLock { $0.nextScan }.map { max(.zero, $0 - now) }
    }

    func stopped(_ socket: ZMQSocket) {}
}
