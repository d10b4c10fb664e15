import Foundation
import Testing
@testable import ZeroMQ

@Suite("ZeroMQ wrapper")
struct SocketTests {
    private func endpoint() -> String { "inproc://pair-\(UUID().uuidString)" }

    @Test("a pair carries multipart messages whole and in order, empty frames included")
    func multipartRoundTrip() throws {
        let address = endpoint()
        let a = try ZMQSocket(.pair)
        try a.bind(address)
        let b = try ZMQSocket(.pair)
        try b.connect(address)
        let frames = [Data("first".utf8), Data(), Data(repeating: 7, count: 100_000)]
        try a.send(frames)
        try a.send([Data("second".utf8)])
        #expect(try b.receive(wait: true) == frames)
        #expect(try b.receive(wait: true) == [Data("second".utf8)])
    }

    @Test("receive without waiting returns nil when nothing is queued")
    func nonBlockingReceive() throws {
        let address = endpoint()
        let a = try ZMQSocket(.pair)
        try a.bind(address)
        #expect(try a.receive() == nil)
    }

    @Test("poll reports a readable socket and a signalled eventfd, and times out when neither is")
    func pollSocketsAndDescriptors() throws {
        let address = endpoint()
        let a = try ZMQSocket(.pair)
        try a.bind(address)
        let b = try ZMQSocket(.pair)
        try b.connect(address)
        let wake = try WakeSignal()

        let start = ContinuousClock.now
        #expect(try poll([.socket(a), .fileDescriptor(wake.fileDescriptor)], timeoutMilliseconds: 50) == [false, false])
        #expect(ContinuousClock.now - start >= .milliseconds(40))

        wake.signal()
        wake.signal()
        #expect(try poll([.socket(a), .fileDescriptor(wake.fileDescriptor)], timeoutMilliseconds: 1000) == [false, true])
        wake.drain()
        #expect(try poll([.fileDescriptor(wake.fileDescriptor)], timeoutMilliseconds: 0) == [false])

        try b.send([Data("hi".utf8)])
        #expect(try poll([.socket(a), .fileDescriptor(wake.fileDescriptor)], timeoutMilliseconds: 1000) == [true, false])
    }

    @Test("failures are typed errors carrying errno and libzmq's text", arguments: ["nonsense", "tcp://", "bogus://x"])
    func typedErrors(endpoint: String) throws {
        let socket = try ZMQSocket(.router)
        let error = #expect(throws: ZMQError.self) { try socket.bind(endpoint) }
        #expect(error?.code != 0)
        #expect(error?.message.isEmpty == false)
        #expect(error?.description.contains("zmq_bind") == true)
    }

    @Test("a closed socket refuses further use instead of crashing")
    func closedSocket() throws {
        let socket = try ZMQSocket(.dealer)
        socket.close()
        socket.close()
        #expect(throws: ZMQError.self) { try socket.send([Data("x".utf8)]) }
        #expect(throws: ZMQError.self) { try socket.set(.linger(milliseconds: 0)) }
    }

    @Test("every option DESIGN §3 names can be set")
    func options() throws {
        let router = try ZMQSocket(.router)
        try router.set(.routerMandatory(true))
        try router.set(.maxMessageSize(bytes: 1 << 20))
        try router.set(.sendHighWaterMark(1000))
        try router.set(.receiveHighWaterMark(1000))
        try router.set(.heartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 3000, ttlMilliseconds: 3000))
        try router.set(.sendTimeout(milliseconds: 100))
        try router.set(.receiveTimeout(milliseconds: 100))
        let dealer = try ZMQSocket(.dealer)
        try dealer.set(.immediate(true))
        try dealer.set(.reconnectInterval(milliseconds: 100))
        try dealer.set(.routingID(Array("me".utf8)))
        let subscriber = try ZMQSocket(.subscriber)
        try subscriber.set(.subscribe(prefix: Array("a.".utf8)))
        try subscriber.set(.unsubscribe(prefix: Array("a.".utf8)))
    }

    @Test("a ROUTER with ROUTER_MANDATORY reports an unknown peer as EHOSTUNREACH")
    func routerMandatory() throws {
        let router = try ZMQSocket(.router)
        try router.set(.routerMandatory(true))
        try router.bind(endpoint())
        let error = #expect(throws: ZMQError.self) { try router.send([Data("nobody".utf8), Data("x".utf8)]) }
        #expect(error?.hostUnreachable == true)
    }

    @Test("REQ and REP talk across threads' sockets with blocking calls")
    func requestReply() throws {
        let address = endpoint()
        let rep = try ZMQSocket(.reply)
        try rep.bind(address)
        let req = try ZMQSocket(.request)
        try req.connect(address)
        try req.send([Data("ping".utf8)], wait: true)
        #expect(try rep.receive(wait: true) == [Data("ping".utf8)])
        try rep.send([Data("pong".utf8)], wait: true)
        #expect(try req.receive(wait: true) == [Data("pong".utf8)])
        #expect(!ZMQContext.version.isEmpty)
    }
}
