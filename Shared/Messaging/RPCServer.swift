import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Tracing
import ZeroMQ

/// A service's table from method name to handler. Handlers are async and may throw `RemoteError`
/// for a business refusal; any other error becomes an `internal` error reply.
package struct RPCHandlers: Sendable {
    typealias Handler = @Sendable (_ frame: Data, _ head: RequestHead, _ logger: Logger) async throws -> Data
    /// Answers on the socket's own thread, or nil when the request needs the method's async handler.
    typealias ImmediateHandler = @Sendable (_ frame: Data, _ head: RequestHead) throws -> Data?
    private(set) var table: [String: Handler] = [:]
    /// Handlers tried on the socket's own thread first (see `onSocketThread`).
    private(set) var immediate: [String: ImmediateHandler] = [:]

    package init() {}

    /// Registers `handle` for `method`. Registering a name twice is a programming error.
    package mutating func on<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ handle: @escaping @Sendable (Request) async throws -> Response
    ) {
        onEncoded(method) { request in try WireCodec.encoder.encode(try await handle(request)) }
    }

    /// Registers `handle` for `method` where the handler answers its reply body already encoded, the
    /// JSON of `Response` as `WireCodec.encoder` writes it: for a reply it keeps encoded (a cache).
    package mutating func onEncoded<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ handle: @escaping @Sendable (Request) async throws -> Data
    ) {
        precondition(table[method.name] == nil && immediate[method.name] == nil, "\(method.name) registered twice")
        table[method.name] = { frame, head, _ in try await handle(try Self.decode(Request.self, frame, head)) }
    }

    /// Registers `handle` for `method`, with `atOnce` tried first on the socket's thread as the
    /// request arrives: it answers from memory, without waiting, or nil when the request needs
    /// `handle` after all. A request answered at once saves the hand-offs to Swift's pool and back.
    package mutating func onEncoded<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        atOnce: @escaping @Sendable (Request) throws -> Data?,
        _ handle: @escaping @Sendable (Request) async throws -> Data
    ) {
        onEncoded(method, handle)
        immediate[method.name] = { frame, head in try atOnce(try Self.decode(Request.self, frame, head)) }
    }

    /// Registers a handler that never waits (no database, no I/O, no lock held for long): it runs
    /// on the server's socket thread as the request arrives and its reply leaves at once, without
    /// the two thread hand-offs (to Swift's pool and back) an async handler costs.
    package mutating func onSocketThread<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        _ handle: @escaping @Sendable (Request) throws -> Response
    ) {
        precondition(table[method.name] == nil && immediate[method.name] == nil, "\(method.name) registered twice")
        immediate[method.name] = { frame, head in
            try WireCodec.encoder.encode(try handle(try Self.decode(Request.self, frame, head)))
        }
    }

    private static func decode<Request: Decodable>(_ type: Request.Type, _ frame: Data, _ head: RequestHead) throws -> Request {
        do {
            return try WireCodec.decodeRequest(Request.self, from: frame, routedBy: head)
        } catch let error as DecodingError {
            throw RemoteError.badRequest(WireCodec.describe(error))
        }
    }

    package var methodNames: [String] { Set(table.keys).union(immediate.keys).sorted() }
}

/// What every service answers to `<service>.ping`.
package struct PingReply: Codable, Sendable, Equatable {
    package let service: String
    package let pid: Int32
    package let uptimeSeconds: Double
    /// Requests this process's RPC clients have sent again since it started (`RPCClient.resendsSent`);
    /// nil from a peer that does not count them.
    package let rpcResends: Int?
}

/// What every backend answers to `<service>.metrics`: its metrics in Prometheus text format.
package struct MetricsReply: Codable, Sendable, Equatable {
    package let text: String

    package init(text: String) {
        self.text = text
    }
}

/// A service's request/reply endpoint: a ROUTER that dispatches each request by method name.
///
/// It answers plain REQ clients and DEALER clients alike, since it returns every routing frame it
/// received (identity and, for REQ, the empty delimiter) in front of the reply. An unknown method,
/// an undecodable frame or a failing handler gets an error reply, never a crash. On graceful
/// shutdown it refuses new requests with `shutting_down`, lets running handlers answer (for up to
/// `drainTimeout`), then closes. A resent copy of a request still being handled is dropped, so a
/// slow idempotent handler does not run twice at once.
package final class RPCServer: SocketService, SocketLoopDriver {
    package let service: String
    package let endpoint: String
    private let handlers: [String: RPCHandlers.Handler]
    private let immediateHandlers: [String: RPCHandlers.ImmediateHandler]
    private let methodNames: [String]
    private let logger: Logger
    private let maxInFlight: Int
    private let drainTimeout: Duration
    private let startedAt = ContinuousClock.now
    private let metrics: RPCServerMetrics
    /// How long a drained server stays open so that clients read the last replies.
    static let flushGrace = Duration.milliseconds(150)
    private let state = Mutex(State())
    private let loop = Mutex<SocketLoop?>(nil)

    private struct RequestKey: Hashable {
        let peer: Data
        let id: String
    }

    private struct State {
        var replies: [[Data]] = []
        var inFlight = 0
        /// Requests being handled, by connection and id: a resent copy of one is dropped, and the
        /// first copy's reply answers both.
        var handling: Set<RequestKey> = []
        var drainingSince: ContinuousClock.Instant?
        /// When the last running handler answered, during a drain.
        var drainedAt: ContinuousClock.Instant?
        var stopRequested = false
    }

    /// - Parameters:
    ///   - service: the service's name; `<service>.ping` is answered without being registered.
    ///   - endpoint: the address to bind, e.g. `tcp://127.0.0.1:7201` or `ipc:///tmp/concert.rpc`.
    package init(
        service: String,
        endpoint: String,
        handlers: RPCHandlers,
        logger: Logger,
        maxInFlight: Int = 4096,
        drainTimeout: Duration = .seconds(1)
    ) {
        var handlers = handlers
        let startedAt = self.startedAt
        handlers.onSocketThread(RPCMethod<Empty, PingReply>("\(service).ping", idempotent: true)) { _ in
            PingReply(service: service, pid: ProcessInfo.processInfo.processIdentifier,
                      uptimeSeconds: (ContinuousClock.now - startedAt) / .seconds(1), rpcResends: RPCClient.resendsSent)
        }
        self.service = service
        self.endpoint = endpoint
        self.handlers = handlers.table
        self.immediateHandlers = handlers.immediate
        self.methodNames = handlers.methodNames
        var logger = logger
        logger[metadataKey: "rpc.endpoint"] = .string(endpoint)
        self.logger = logger
        self.maxInFlight = maxInFlight
        self.drainTimeout = drainTimeout
        self.metrics = RPCServerMetrics(methods: handlers.methodNames)
    }

    /// Binds the endpoint and starts answering. Throws when the address cannot be bound.
    package func start() throws(ZMQError) {
        let socket = try ZMQSocket(.router)
        try socket.applyStandardOptions()
        try socket.set(.routerMandatory(true))
        try socket.bind(endpoint)
        let started = try SocketLoop(name: "rpc-server \(service)", socket: socket, driver: self)
        loop.withLock { $0 = started }
        logger.info("answering requests", metadata: ["rpc.methods": .string(methodNames.joined(separator: ","))])
    }

    /// True once `start` has bound the endpoint (and until the process ends): what readiness waits for.
    package var isBound: Bool { loop.withLock { $0 != nil } }

    /// Refuses new requests, waits for running handlers to answer (bounded), then closes.
    package func stop() async {
        state.withLock { state in
            if state.drainingSince == nil { state.drainingSince = .now }
        }
        guard let loop = loop.withLock({ $0 }) else { return }
        // The loop stops itself once drained (see `service`).
        loop.wake()
        await loop.stopped()
    }

    package func stopNow() {
        loop.withLock { $0 }?.requestStop()
    }

    // MARK: SocketLoopDriver (on the socket's thread)

    func received(_ frames: [Data]) {
        // A ROUTER puts the sender's identity first; REQ peers add an empty delimiter. The last
        // frame is the request, everything before it is the route back. Nothing this project
        // speaks has more than a few routing frames; more is a hostile or confused peer.
        guard (2...4).contains(frames.count), let frame = frames.last else { return }
        let route = Array(frames.dropLast())
        // Frames this project wrote are routed on their first bytes; the handler parses them once.
        guard let head = WireCodec.scanRequestHead(frame) ?? readHead(frame, route: route) else { return }
        guard head.v == WireCodec.version else {
            reply(route, WireCodec.encodeErrorReply(id: head.id, error: .unsupportedVersion(head.v)))
            return
        }
        let arrived = ContinuousClock.now
        if let immediate = immediateHandlers[head.method] {
            // Answered from memory on this thread: no span (nothing here logs or calls on), but timed.
            let draining = state.withLock { $0.drainingSince != nil }
            let outcome: Result<Data?, any Error> = draining ? .failure(RemoteError.shuttingDown) : Result { try immediate(frame, head) }
            switch outcome {
            case .success(nil):
                break // answered by the async handler below
            case .success(let body?):
                reply(route, Self.answer(id: head.id, .success(body), logger: logger))
                metrics.handled(head.method, failure: nil, since: arrived)
                return
            case .failure(let error):
                reply(route, Self.answer(id: head.id, .failure(error), logger: logger))
                metrics.handled(head.method, failure: error, since: arrived)
                return
            }
        }
        guard let handler = handlers[head.method] else {
            reply(route, WireCodec.encodeErrorReply(id: head.id, error: .unknownMethod(head.method)))
            metrics.handled(RPCServerMetrics.unknownMethod, failure: RemoteError.unknownMethod(head.method), since: arrived)
            return
        }
        enum Admission { case run, duplicate, refuse(RemoteError) }
        let key = RequestKey(peer: route[0], id: head.id)
        let admission: Admission = state.withLock { state in
            if state.handling.contains(key) { return .duplicate }
            if state.drainingSince != nil { return .refuse(.shuttingDown) }
            if state.inFlight >= maxInFlight { return .refuse(.busy) }
            state.inFlight += 1
            state.handling.insert(key)
            metrics.inFlight.record(state.inFlight)
            return .run
        }
        switch admission {
        case .run: break
        case .duplicate: return
        case .refuse(let refusal):
            reply(route, WireCodec.encodeErrorReply(id: head.id, error: refusal))
            metrics.handled(head.method, failure: refusal, since: arrived)
            return
        }
        var logger = self.logger
        logger[metadataKey: "rpc.method"] = .string(head.method)
        logger[metadataKey: "rpc.id"] = .string(head.id)
        // The handler continues the caller's trace (or starts one), so its log lines and the calls
        // it makes carry the trace id.
        let parent = TraceHeader.context(continuing: head.traceparent)
        Task { [logger] in
            let outcome: Result<Data, any Error> = await withSpan(head.method, context: parent, ofKind: .server) { span in
                logger.debug("handling")
                do {
                    return .success(try await handler(frame, head, logger))
                } catch {
                    span.recordError(error)
                    return .failure(error)
                }
            }
            let fitting = Self.answer(id: head.id, outcome, logger: logger)
            self.metrics.handled(head.method, failure: outcome.failure, since: arrived)
            self.state.withLock { state in
                state.inFlight -= 1
                state.handling.remove(key)
                state.replies.append(route + [fitting])
                self.metrics.inFlight.record(state.inFlight)
            }
            // The reply leaves from this thread when the socket is free.
            self.loop.withLock { $0 }?.serviceNow(self)
        }
    }

    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration? {
        enum Next { case serve, drain, stop, abandon(Int) }
        let (replies, next) = state.withLock { state -> ([[Data]], Next) in
            defer { state.replies = [] }
            guard let drainingSince = state.drainingSince else { return (state.replies, .serve) }
            if state.stopRequested { return (state.replies, .drain) }
            if state.inFlight == 0 && state.drainedAt == nil { state.drainedAt = now }
            // Once drained, stay open a moment: a client loses a reply still unread when its
            // connection drops (ZMQ_IMMEDIATE drops the pipe), so the last replies are read first.
            if let drainedAt = state.drainedAt, now - drainedAt >= Self.flushGrace {
                state.stopRequested = true
                return (state.replies, .stop)
            }
            if state.drainedAt == nil && now - drainingSince >= drainTimeout {
                state.stopRequested = true
                return (state.replies, .abandon(state.inFlight))
            }
            return (state.replies, .drain)
        }
        for message in replies { send(message, on: socket) }
        switch next {
        case .serve:
            return nil
        case .drain:
            return .milliseconds(10)
        case .abandon(let inFlight):
            logger.warning("stopping with handlers still running", metadata: ["rpc.in_flight": .stringConvertible(inFlight)])
            loop.withLock { $0 }?.requestStop()
            return .zero
        case .stop:
            loop.withLock { $0 }?.requestStop()
            return .zero
        }
    }

    func stopped(_ socket: ZMQSocket) {
        // Closing with linger 0 would discard the replies just queued; give them a moment to leave.
        try? socket.set(.linger(milliseconds: 500))
        logger.info("stopped answering requests")
    }

    /// The reply frame for a handler's outcome: its body, its refusal, `internal` for any other
    /// failure, and `too_large` for a body no frame may carry.
    private static func answer(id: String, _ outcome: Result<Data, any Error>, logger: Logger) -> Data {
        let answer: Data
        switch outcome {
        case .success(let body):
            answer = WireCodec.encodeReply(id: id, body: body)
        case .failure(let error as RemoteError):
            logger.debug("refused", metadata: ["rpc.error": .string(error.code)])
            answer = WireCodec.encodeErrorReply(id: id, error: error)
        case .failure(let error):
            logger.error("handler failed", metadata: ["rpc.error": .string("\(error)")])
            answer = WireCodec.encodeErrorReply(id: id, error: .internalError)
        }
        return answer.count <= WireCodec.maxFrameBytes ? answer : WireCodec.encodeErrorReply(id: id, error: .tooLarge)
    }

    /// A frame of another shape parsed in full; an undecodable one is answered `bad_request` here.
    private func readHead(_ frame: Data, route: [Data]) -> RequestHead? {
        do {
            return try WireCodec.decodeRequestHead(frame)
        } catch {
            logger.debug("undecodable request", metadata: ["rpc.error": .string(error.description)])
            reply(route, WireCodec.encodeErrorReply(id: Self.bestEffortID(frame), error: .badRequest(error.description)))
            return nil
        }
    }

    /// Queues an answer given on the socket's thread; the loop's next pass sends it.
    private func reply(_ route: [Data], _ answer: Data) {
        state.withLock { $0.replies.append(route + [answer]) }
    }

    private func send(_ message: [Data], on socket: ZMQSocket) {
        do {
            try socket.send(message)
        } catch {
            // The caller hung up (EHOSTUNREACH) or is not reading (EAGAIN at the high-water mark):
            // its deadline will pass and, for idempotent calls, it asks again.
            logger.debug("reply not delivered", metadata: ["rpc.error": .string(error.description)])
        }
    }

    /// The request id of a frame that is JSON but not a valid envelope, so the caller can match the error.
    private static func bestEffortID(_ frame: Data) -> String {
        guard frame.count <= WireCodec.maxFrameBytes,
              let object = try? JSONSerialization.jsonObject(with: frame) as? [String: Any],
              let id = object["id"] as? String
        else { return "" }
        return id
    }
}
