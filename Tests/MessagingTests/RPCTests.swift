import Foundation
import Logging
import Synchronization
import Testing
import TestSupport
import ZeroMQ
@testable import Messaging

/// Request/reply over real sockets: a ROUTER server and DEALER (and REQ) clients.
@Suite("RPC server and client", .timeLimit(.minutes(2)))
struct RPCTests {
    struct Echo: Codable, Equatable, Sendable {
        let caller: Int
        let call: Int
    }

    static let echo = RPCMethod<Echo, Echo>("test.echo", idempotent: true)
    static let sleep = RPCMethod<Empty, Empty>("test.sleep", idempotent: false)
    static let refuse = RPCMethod<Empty, Empty>("test.refuse", idempotent: false)
    static let crash = RPCMethod<Empty, Empty>("test.crash", idempotent: false)
    static let unknown = RPCMethod<Empty, Empty>("test.nothing", idempotent: false)
    static let ping = RPCMethod<Empty, PingReply>("test.ping", idempotent: true)

    struct Boom: Error {}

    static let logger: Logger = {
        var logger = Logger(label: "rpc-test")
        logger.logLevel = .warning
        return logger
    }()

    static func makeServer(_ endpoint: String, tag: Int = 0) throws -> RPCServer {
        var handlers = RPCHandlers()
        handlers.on(echo) { request in Echo(caller: request.caller, call: request.call + tag) }
        handlers.on(sleep) { _ in
            try await Task.sleep(for: .seconds(30))
            return Empty()
        }
        handlers.on(refuse) { _ in throw RemoteError("seat_unavailable", "someone else holds it") }
        handlers.on(crash) { _ in throw Boom() }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: logger, drainTimeout: .milliseconds(100))
        try server.start()
        return server
    }

    @Test("hundreds of concurrent calls from many tasks each get their own reply", arguments: ["tcp", "ipc"])
    func concurrentCalls(transport: String) async throws {
        let endpoint = transport == "tcp" ? try freeTCPEndpoint() : try TemporaryDirectory("rpc").ipc("s")
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(10))
        let replies = try await withThrowingTaskGroup(of: Int.self) { group in
            for caller in 0..<40 {
                group.addTask {
                    for call in 0..<15 {
                        let reply = try await client.call(Self.echo, Echo(caller: caller, call: call))
                        #expect(reply == Echo(caller: caller, call: call))
                    }
                    return 15
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(replies == 600)
        await client.close()
        await server.stop()
    }

    @Test("every service answers <service>.ping without registering it")
    func pingIsBuiltIn() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger)
        let reply = try await client.call(Self.ping, Empty())
        #expect(reply.service == "test")
        #expect(reply.pid == ProcessInfo.processInfo.processIdentifier)
        await client.close()
        await server.stop()
    }

    @Test("a handler registered for the socket's thread runs there, and answers, refuses and reports a bad body like any other")
    func socketThreadHandlers() async throws {
        let endpoint = try TemporaryDirectory("rpc").ipc("s")
        // Run on the socket's thread, a handler is in no Swift task; an async handler always is.
        let inTask = Mutex<[Bool]>([])
        var handlers = RPCHandlers()
        handlers.onSocketThread(Self.echo) { request in
            let task = withUnsafeCurrentTask { $0 != nil }
            inTask.withLock { $0.append(task) }
            return request
        }
        handlers.onSocketThread(Self.refuse) { _ in throw RemoteError("seat_unavailable", "someone else holds it") }
        handlers.onSocketThread(Self.crash) { _ in throw Boom() }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(10))
        for call in 0..<3 {
            #expect(try await client.call(Self.echo, Echo(caller: 7, call: call)) == Echo(caller: 7, call: call))
        }
        #expect(inTask.withLock { $0 } == [false, false, false])
        await #expect(throws: RemoteError("seat_unavailable", "someone else holds it")) { try await client.call(Self.refuse, Empty()) }
        await #expect(throws: RemoteError.internalError) { try await client.call(Self.crash, Empty()) }
        let reply = try await client.callRaw(method: Self.echo.name, body: Data(#"{"caller":"x"}"#.utf8), idempotent: false)
        #expect(try WireCodec.decodeReplyHead(reply).error?.code == "bad_request")
        #expect(try await client.call(Self.ping, Empty()).service == "test")
        await client.close()
        await server.stop()
    }

    @Test("a handler tried at once answers on the socket's thread when it can and hands the rest to its async handler")
    func atOnceHandlers() async throws {
        let endpoint = try TemporaryDirectory("rpc").ipc("s")
        // Odd calls are answered at once (in no Swift task), even ones by the async handler, and a
        // call numbered 99 is refused at once.
        let answeredAtOnce = Mutex<[Int]>([])
        var handlers = RPCHandlers()
        handlers.onEncoded(Self.echo, atOnce: { request in
            if request.call == 99 { throw RemoteError("seat_unavailable", "refused at once") }
            guard request.call % 2 == 1 else { return nil }
            #expect(withUnsafeCurrentTask { $0 == nil })
            answeredAtOnce.withLock { $0.append(request.call) }
            return try WireCodec.encoder.encode(Echo(caller: request.caller, call: request.call))
        }) { request in
            try WireCodec.encoder.encode(Echo(caller: -request.caller, call: request.call))
        }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(10))
        for call in 0..<6 {
            let reply = try await client.call(Self.echo, Echo(caller: 3, call: call))
            #expect(reply == Echo(caller: call % 2 == 1 ? 3 : -3, call: call))
        }
        #expect(answeredAtOnce.withLock { $0 } == [1, 3, 5])
        await #expect(throws: RemoteError("seat_unavailable", "refused at once")) { try await client.call(Self.echo, Echo(caller: 3, call: 99)) }
        let reply = try await client.callRaw(method: Self.echo.name, body: Data(#"{"caller":"x"}"#.utf8), idempotent: false)
        #expect(try WireCodec.decodeReplyHead(reply).error?.code == "bad_request")
        await client.close()
        await server.stop()
    }

    @Test("calls sent from their callers' threads and replies sent from handlers' tasks cross without one being lost")
    func sendsFromManyThreads() async throws {
        let endpoint = try TemporaryDirectory("rpc").ipc("s")
        // Handlers that finish at scattered moments, so replies leave from the handlers' tasks while
        // callers send from theirs and the sockets' threads receive: every way the socket is taken.
        // Not idempotent, so never sent again: a request or reply left unsent fails its call.
        let echoOnce = RPCMethod<Echo, Echo>("test.echo", idempotent: false)
        var handlers = RPCHandlers()
        handlers.on(echoOnce) { request in
            if request.call % 3 == 0 { try await Task.sleep(for: .microseconds(Int.random(in: 0...300))) }
            return request
        }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        let clients = try (0..<3).map { _ in try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(5)) }
        let answered = try await withThrowingTaskGroup(of: Int.self) { group in
            for caller in 0..<120 {
                group.addTask {
                    let client = clients[caller % clients.count]
                    for call in 0..<25 {
                        let reply = try await client.call(echoOnce, Echo(caller: caller, call: call))
                        #expect(reply == Echo(caller: caller, call: call))
                    }
                    return 25
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(answered == 3000)
        for client in clients { await client.close() }
        await server.stop()
    }

    @Test("business refusals arrive as sent; unknown methods and failing handlers get error replies")
    func errorReplies() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger)
        await #expect(throws: RemoteError("seat_unavailable", "someone else holds it")) { try await client.call(Self.refuse, Empty()) }
        let unknown = await #expect(throws: RemoteError.self) { try await client.call(Self.unknown, Empty()) }
        #expect(unknown?.code == "unknown_method")
        await #expect(throws: RemoteError.internalError) { try await client.call(Self.crash, Empty()) }
        // A body of the wrong shape is the caller's fault, not the handler's.
        let reply = try await client.callRaw(method: Self.echo.name, body: Data(#"{"caller":"x"}"#.utf8), idempotent: false)
        #expect(try WireCodec.decodeReplyHead(reply).error?.code == "bad_request")
        // The server is unharmed.
        #expect(try await client.call(Self.echo, Echo(caller: 1, call: 2)) == Echo(caller: 1, call: 2))
        await client.close()
        await server.stop()
    }

    @Test("a server that never answers makes the call fail with a timeout within its deadline")
    func deadline() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger)
        let start = ContinuousClock.now
        await #expect(throws: MessagingError.timeout(method: Self.sleep.name, endpoint: endpoint)) {
            try await client.call(Self.sleep, Empty(), timeout: .milliseconds(300))
        }
        let took = ContinuousClock.now - start
        #expect(took >= .milliseconds(290) && took < .seconds(2), "took \(took)")
        await client.close()
        await server.stop()
    }

    @Test("a call to an endpoint nobody serves fails as unreachable within its deadline")
    func unreachable() async throws {
        let endpoint = try freeTCPEndpoint()
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger)
        let start = ContinuousClock.now
        await #expect(throws: MessagingError.unreachable(method: Self.echo.name, endpoint: endpoint)) {
            try await client.call(Self.echo, Echo(caller: 0, call: 0), timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - start < .seconds(2))
        await client.close()
    }

    @Test("a server restarted mid-way is reached again by the same client")
    func serverRestart() async throws {
        let endpoint = try freeTCPEndpoint()
        let first = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(5))
        #expect(try await client.call(Self.echo, Echo(caller: 1, call: 1)) == Echo(caller: 1, call: 1))
        await first.stop()

        // A call made while nothing serves waits for the restart, within its deadline.
        async let pending = client.call(Self.echo, Echo(caller: 2, call: 1))
        try await Task.sleep(for: .milliseconds(300))
        let second = try Self.makeServer(endpoint, tag: 100)
        #expect(try await pending == Echo(caller: 2, call: 101))
        #expect(try await client.call(Self.echo, Echo(caller: 3, call: 1)) == Echo(caller: 3, call: 101))
        await client.close()
        await second.stop()
    }

    @Test("a cancelled call stops waiting at once")
    func cancellation() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(20))
        let task = Task { try await client.call(Self.sleep, Empty()) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Far sooner than the 20 s deadline; the margin is for a machine busy with other suites.
        #expect(ContinuousClock.now - start < .seconds(3))
        await client.close()
        await server.stop()
    }

    @Test("closing a client fails its calls in flight and refuses new ones")
    func closeClient() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(20))
        let task = Task { try await client.call(Self.sleep, Empty()) }
        try await Task.sleep(for: .milliseconds(100))
        await client.close()
        await #expect(throws: MessagingError.closed) { try await task.value }
        await #expect(throws: MessagingError.closed) { try await client.call(Self.echo, Echo(caller: 0, call: 0)) }
        await server.stop()
    }

    @Test("a plain REQ socket gets answers, and an error reply for garbage")
    func plainRequestSocket() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        func exchange(_ frame: Data) throws -> Data {
            let req = try ZMQSocket(.request)
            try req.set(.receiveTimeout(milliseconds: 3000))
            try req.connect(endpoint)
            try req.send([frame], wait: true)
            let reply = try #require(try req.receive(wait: true))
            #expect(reply.count == 1)
            return reply[0]
        }
        let good = try exchange(WireCodec.encodeRequest(id: "req-1", method: "test.echo", body: Echo(caller: 9, call: 9)))
        #expect(try WireCodec.decodeReplyHead(good).ok)
        #expect(try WireCodec.decodeBody(Echo.self, from: good) == Echo(caller: 9, call: 9))

        let garbage = try WireCodec.decodeReplyHead(try exchange(Data("garbage".utf8)))
        #expect(!garbage.ok && garbage.error?.code == "bad_request")

        let wrongVersion = try WireCodec.decodeReplyHead(try exchange(Data(#"{"v":2,"id":"q","method":"test.ping"}"#.utf8)))
        #expect(wrongVersion.id == "q" && wrongVersion.error?.code == "unsupported_version")

        let unknown = try WireCodec.decodeReplyHead(try exchange(Data(#"{"v":1,"id":"u","method":"nope"}"#.utf8)))
        #expect(unknown.id == "u" && unknown.error?.code == "unknown_method")
        await server.stop()
    }

    @Test("an oversized request is refused before it is sent, and the server drops one sent anyway")
    func oversizedFrame() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger)
        let huge = Data("\"".utf8) + Data(repeating: UInt8(ascii: "a"), count: 2 << 20) + Data("\"".utf8)
        await #expect(throws: RemoteError.tooLarge) {
            _ = try await client.callRaw(method: Self.echo.name, body: huge, idempotent: false, timeout: .milliseconds(500))
        }
        // A raw peer that ignores the limit is disconnected by libzmq; the server answers others on.
        let rogue = try ZMQSocket(.dealer)
        try rogue.connect(endpoint)
        try rogue.send([WireCodec.encodeRequest(id: "big", method: Self.echo.name, body: huge)], wait: true)
        try rogue.set(.receiveTimeout(milliseconds: 300))
        let answer = try? rogue.receive(wait: true)
        #expect(answer == nil, "\(answer.map { $0.map { String(decoding: $0.prefix(200), as: UTF8.self) } } ?? [])")
        #expect(try await client.call(Self.echo, Echo(caller: 5, call: 5)) == Echo(caller: 5, call: 5))
        await client.close()
        await server.stop()
    }

    @Test("a copy of an idempotent call resent while the first is still running does not run it twice")
    func resentCopiesRunOnce() async throws {
        let endpoint = try freeTCPEndpoint()
        let runs = Mutex(0)
        let running = Mutex((now: 0, most: 0))
        let released = Mutex(false)
        var handlers = RPCHandlers()
        handlers.on(Self.echo) { request in
            runs.withLock { $0 += 1 }
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { running.withLock { $0.now -= 1 } }
            // Held until the test lets go, so the client's resends (at 250 ms and 750 ms) arrive while it runs.
            let deadline = ContinuousClock.now + .seconds(10)
            while !released.withLock({ $0 }) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            return request
        }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(20))
        let resendsBefore = RPCClient.resendsSent
        async let answer = client.call(Self.echo, Echo(caller: 1, call: 1))
        try await Task.sleep(for: .milliseconds(1000))
        released.withLock { $0 = true }
        #expect(try await answer == Echo(caller: 1, call: 1))
        // Both copies are counted (other tests in this process may add their own, never take away).
        #expect(RPCClient.resendsSent - resendsBefore >= 2)
        let reported = try #require(try await client.call(Self.ping, Empty()).rpcResends)
        #expect(reported >= resendsBefore + 2)
        // The copies sent at 250 and 750 ms, while the first ran, were dropped: never two at once,
        // and at most one more run, from a copy a very busy machine sent after the first had answered.
        #expect(running.withLock { $0.most } == 1)
        #expect(runs.withLock { $0 } <= 2)
        await client.close()
        await server.stop()
    }

    @Test("a server being stopped refuses new work but lets running handlers answer")
    func gracefulDrain() async throws {
        let endpoint = try freeTCPEndpoint()
        let (started, handlerStarted) = AsyncStream.makeStream(of: Void.self)
        var handlers = RPCHandlers()
        handlers.on(Self.echo) { request in
            handlerStarted.yield()
            try await Task.sleep(for: .milliseconds(300))
            return request
        }
        let server = RPCServer(service: "test", endpoint: endpoint, handlers: handlers, logger: Self.logger)
        try server.start()
        let client = try RPCClient(endpoint: endpoint, logger: Self.logger, defaultTimeout: .seconds(10))
        async let slow = client.call(Self.echo, Echo(caller: 1, call: 1))
        // Stop only once the handler is running, however slow the machine.
        var iterator = started.makeAsyncIterator()
        await iterator.next()
        let start = ContinuousClock.now
        await server.stop()
        // The handler's 300 ms, with room for a machine busy with other suites.
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(try await slow == Echo(caller: 1, call: 1))
        await client.close()
    }

    @Test("binding an address already in use fails with a typed error")
    func bindConflict() async throws {
        let endpoint = try freeTCPEndpoint()
        let server = try Self.makeServer(endpoint)
        #expect(throws: ZMQError.self) { _ = try Self.makeServer(endpoint) }
        await server.stop()
    }
}
