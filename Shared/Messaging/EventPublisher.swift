import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// The head of an event envelope: `{"v", "source", "epoch", "seq", "type", "body"}` on the wire,
/// sent after a topic frame (the event type, so subscribers filter by prefix).
///
/// `seq` numbers a publisher's events 1, 2, 3… within one `epoch`. A publisher that keeps its
/// numbering durably (an outbox) keeps its epoch; one that numbers in memory takes a new epoch
/// each start, which tells subscribers the numbering began again.
package struct EventHead: Codable, Sendable, Equatable {
    package let v: Int
    package let source: String
    package let epoch: String
    package let seq: UInt64
    package let type: String
}

package enum EventCodec {
    /// The topic and type of the heartbeat a publisher sends while idle, carrying its latest `seq`
    /// so that a subscriber notices lost events even when nothing follows them.
    package static let heartbeatType = "heartbeat"

    package static func encode(source: String, epoch: String, seq: UInt64, type: String, body: Data) -> [Data] {
        var frame = Data("{\"v\":\(WireCodec.version),\"source\":".utf8)
        frame.append(WireCodec.jsonString(source))
        frame.append(contentsOf: Array(",\"epoch\":".utf8))
        frame.append(WireCodec.jsonString(epoch))
        frame.append(contentsOf: Array(",\"seq\":\(seq),\"type\":".utf8))
        frame.append(WireCodec.jsonString(type))
        frame.append(contentsOf: Array(",\"body\":".utf8))
        frame.append(body)
        frame.append(UInt8(ascii: "}"))
        return [Data(type.utf8), frame]
    }

    package static func decodeHead(_ frame: Data) throws(FrameError) -> EventHead {
        try WireCodec.decodeHead(EventHead.self, frame)
    }
}

/// A service's event endpoint: a PUB socket that numbers what it sends.
///
/// PUB/SUB drops messages by design (slow joiners, high-water marks); the numbers let a subscriber
/// see what it missed and ask for it over request/reply (DESIGN §3). Correctness never depends on
/// an event arriving.
package final class EventPublisher: SocketService, SocketLoopDriver {
    package let source: String
    package let endpoint: String
    package let epoch: String
    private let heartbeatInterval: Duration
    private let logger: Logger
    private let state: Mutex<State>
    private let loop = Mutex<SocketLoop?>(nil)

    private struct State {
        var lastSequence: UInt64
        var queued: [[Data]] = []
        var nextHeartbeat = ContinuousClock.now
    }

    /// - Parameters:
    ///   - epoch: keep it stable with `lastSequence` when the numbering is durable; the default is new each start.
    ///   - lastSequence: the number of the last event already published in this epoch.
    package init(
        source: String,
        endpoint: String,
        logger: Logger,
        epoch: String = UUID().uuidString.lowercased(),
        lastSequence: UInt64 = 0,
        heartbeatInterval: Duration = .seconds(1)
    ) {
        self.source = source
        self.endpoint = endpoint
        self.epoch = epoch
        self.heartbeatInterval = heartbeatInterval
        var logger = logger
        logger[metadataKey: "events.endpoint"] = .string(endpoint)
        self.logger = logger
        self.state = Mutex(State(lastSequence: lastSequence))
    }

    package func start() throws(ZMQError) {
        let socket = try ZMQSocket(.publisher)
        try socket.applyStandardOptions()
        // Subscribers send only subscription frames; anything large is not one.
        try socket.set(.maxMessageSize(bytes: 4096))
        try socket.bind(endpoint)
        let started = try SocketLoop(name: "events \(source)", socket: socket, driver: self, receivesInput: false)
        loop.withLock { $0 = started }
        logger.info("publishing events")
    }

    /// True once `start` has bound the endpoint (and until the process ends): what readiness waits for.
    package var isBound: Bool { loop.withLock { $0 != nil } }

    package func stop() async {
        await loop.withLock { $0 }?.stop()
    }

    package func stopNow() {
        loop.withLock { $0 }?.requestStop()
    }

    /// Publishes one event under the next number and returns that number. Safe from any thread.
    @discardableResult
    package func publish<Body: Encodable>(_ type: String, _ body: Body) throws -> UInt64 {
        let encoded = try WireCodec.encoder.encode(body)
        let seq = state.withLock { state in
            state.lastSequence += 1
            state.queued.append(EventCodec.encode(source: source, epoch: epoch, seq: state.lastSequence, type: type, body: encoded))
            return state.lastSequence
        }
        loop.withLock { $0 }?.serviceNow(self)
        return seq
    }

    /// Publishes an event numbered by its owner (an outbox row), which must be the next number.
    package func publish(sequence: UInt64, type: String, body: Data) {
        state.withLock { state in
            state.lastSequence = max(state.lastSequence, sequence)
            state.queued.append(EventCodec.encode(source: source, epoch: epoch, seq: sequence, type: type, body: body))
        }
        loop.withLock { $0 }?.serviceNow(self)
    }

    package var lastSequence: UInt64 { state.withLock { $0.lastSequence } }

    // MARK: SocketLoopDriver (on the socket's thread)

    func received(_ frames: [Data]) {}

    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration? {
        let (queued, heartbeat) = state.withLock { state -> ([[Data]], [Data]?) in
            defer { state.queued = [] }
            guard now >= state.nextHeartbeat else { return (state.queued, nil) }
            state.nextHeartbeat = now + heartbeatInterval
            let beat = EventCodec.encode(source: source, epoch: epoch, seq: state.lastSequence,
                                         type: EventCodec.heartbeatType, body: Data("{}".utf8))
            return (state.queued, beat)
        }
        for message in queued + (heartbeat.map { [$0] } ?? []) {
            do {
                try socket.send(message)
            } catch {
                // PUB never blocks; it drops at the high-water mark. Subscribers see the gap.
                logger.debug("event not sent", metadata: ["events.error": .string(error.description)])
            }
        }
        let next = state.withLock { $0.nextHeartbeat }
        return max(.zero, next - now)
    }

    func stopped(_ socket: ZMQSocket) {
        // Let the last events leave; closing with linger 0 would discard them.
        try? socket.set(.linger(milliseconds: 500))
    }
}
