import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The load generator's HTTP client: keep-alive HTTP/1.1 connections to one server, at most
/// `connections` of them, one request at a time on each, every request with a deadline.
///
/// It is NIO's HTTP/1.1 codec and a handler that completes one promise per answer, nothing more:
/// the load generator shares the two cores with the stack it measures, so every microsecond its
/// client spends is one the stack lacks (AsyncHTTPClient, which this replaced, cost about as much
/// CPU per request as the gateway did to serve it).
final class LoadClient: Sendable {
    let baseURL: String
    private let host: String
    private let port: Int
    private let pool: ConnectionPool

    /// An answer: its status (0 when there was none: refused, reset, timed out), ETag and body.
    struct Answer: Sendable {
        let status: Int
        let etag: String?
        let body: ByteBuffer?

        var outcome: String { status == 0 ? "no answer" : "\(status)" }
        func json() -> [String: Any]? {
            guard let body else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
        }
    }

    /// `baseURL` is `http://host:port`, as the stack and the hello world give it.
    init(baseURL: String, connections: Int) {
        self.baseURL = baseURL
        let authority = baseURL.replacingOccurrences(of: "http://", with: "").split(separator: "/").first.map(String.init) ?? ""
        let parts = authority.split(separator: ":")
        host = parts.first.map(String.init) ?? "127.0.0.1"
        port = parts.count > 1 ? Int(parts[1]) ?? 80 : 80
        pool = ConnectionPool(limit: max(1, connections))
    }

    func shutdown() async {
        for channel in pool.closeAll() { try? await channel.close() }
    }

    func send(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], json: String? = nil,
              timeout: Duration = .seconds(30)) async -> Answer {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let body = json.map { ByteBuffer(string: $0) }
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: "\(body.readableBytes)")
        } else if method == .POST || method == .PUT || method == .PATCH {
            head.headers.add(name: "Content-Length", value: "0")
        }
        // A request waiting for a free connection counts against its deadline: past the server's
        // capacity that wait is the backlog, to be measured.
        let deadline = NIODeadline.now() + .nanoseconds(Int64(timeout / .nanoseconds(1)))
        guard let channel = await connection(before: deadline) else { return Answer(status: 0, etag: nil, body: nil) }
        let promise = channel.eventLoop.makePromise(of: ExchangeHandler.Result.self)
        // Past the deadline the connection is closed, and the handler fails the answer it waited
        // for: one place completes every promise.
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) { channel.close(promise: nil) }
        channel.writeAndFlush(Exchange(head: head, body: body, answer: promise), promise: nil)
        do {
            let answer = try await promise.futureResult.get()
            timer.cancel()
            pool.release(channel, reusable: answer.keepAlive)
            return answer.answer
        } catch {
            timer.cancel()
            pool.release(channel, reusable: false)
            return Answer(status: 0, etag: nil, body: nil)
        }
    }

    /// A pooled connection, a new one when the pool has room, or the first to come free.
    private func connection(before deadline: NIODeadline) async -> Channel? {
        while NIODeadline.now() < deadline {
            switch await pool.acquire() {
            case .idle(let channel):
                if channel.isActive { return channel }
                pool.release(channel, reusable: false)
            case .open:
                let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(max(.milliseconds(1), deadline - .now()))
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            try channel.pipeline.syncOperations.addHandler(ExchangeHandler())
                        }
                    }
                if let channel = try? await bootstrap.connect(host: host, port: port).get() { return channel }
                pool.release(nil, reusable: false)
                // Refused: the server is not up (yet, or any more). Try again shortly, within the deadline.
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return nil
    }
}

/// One request and the promise its answer completes.
private struct Exchange: Sendable {
    let head: HTTPRequestHead
    let body: ByteBuffer?
    let answer: EventLoopPromise<ExchangeHandler.Result>
}

/// Writes one request and collects its answer; the pool gives a connection one request at a time.
private final class ExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Exchange
    typealias OutboundOut = HTTPClientRequestPart

    struct Result: Sendable {
        let answer: LoadClient.Answer
        /// Whether the connection may carry another request (`Connection: close` says not).
        let keepAlive: Bool
    }

    private var pending: EventLoopPromise<Result>?
    private var head: HTTPResponseHead?
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        pending = exchange.answer
        head = nil
        body = nil
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        if let body = exchange.body { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
        context.write(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            guard let head, let pending else { return }
            self.pending = nil
            let answer = LoadClient.Answer(status: Int(head.status.code), etag: head.headers.first(name: "etag"), body: body)
            pending.succeed(Result(answer: answer, keepAlive: head.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        pending?.fail(ChannelError.ioOnClosedChannel)
        pending = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        pending?.fail(error)
        pending = nil
        context.close(promise: nil)
    }
}

/// At most `limit` connections: idle ones handed out first (most recently used first), new ones
/// opened while there is room, and callers past that waiting in arrival order.
private final class ConnectionPool: Sendable {
    enum Grant { case idle(Channel), open }

    private struct State {
        var idle: [Channel] = []
        var open = 0
        var waiting: [CheckedContinuation<Grant, Never>] = []
        var waitingStart = 0
    }
    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    /// An idle connection, or leave to open one (counted as open from now), or wait for either.
    /// The wait is bounded by the requests holding the connections: each has a deadline, past
    /// which its connection is closed and its place given to the first caller waiting.
    func acquire() async -> Grant {
        if let grant = state.withLock({ take(&$0) }) { return grant }
        return await withCheckedContinuation { continuation in
            let grant: Grant? = state.withLock { state in
                if let grant = take(&state) { return grant }
                state.waiting.append(continuation)
                return nil
            }
            if let grant { continuation.resume(returning: grant) }
        }
    }

    private func take(_ state: inout State) -> Grant? {
        if let channel = state.idle.popLast() { return .idle(channel) }
        if state.open < limit { state.open += 1; return .open }
        return nil
    }

    /// Gives a connection back: to the first caller waiting, or to the idle ones. One that cannot
    /// carry another request (or was never opened: `nil`) frees its place for a new connection.
    func release(_ channel: Channel?, reusable: Bool) {
        let (waiter, grant): (CheckedContinuation<Grant, Never>?, Grant?) = state.withLock { state in
            let grant: Grant
            if let channel, reusable {
                grant = .idle(channel)
            } else {
                grant = .open  // the place stays counted as open, for the waiter to fill
            }
            guard state.waitingStart < state.waiting.count else {
                if case .idle(let channel) = grant { state.idle.append(channel) } else { state.open -= 1 }
                return (nil, nil)
            }
            let waiter = state.waiting[state.waitingStart]
            state.waitingStart += 1
            if state.waitingStart > 1024, state.waitingStart * 2 > state.waiting.count {
                state.waiting.removeFirst(state.waitingStart)
                state.waitingStart = 0
            }
            return (waiter, grant)
        }
        if !reusable { channel?.close(promise: nil) }
        if let waiter, let grant { waiter.resume(returning: grant) }
    }

    /// Every idle connection, for closing; the pool is not used after this.
    func closeAll() -> [Channel] {
        state.withLock { state in
            defer { state.idle.removeAll() }
            return state.idle
        }
    }
}
