import CZeroMQ
import Foundation

/// A libzmq failure: the errno it set and libzmq's own words for it.
package struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
    package let code: Int32
    package let message: String
    package let operation: String

    /// Reads `zmq_errno()` right after a failed call.
    package static func last(_ operation: String) -> ZMQError {
        let code = zmq_errno()
        return ZMQError(code: code, message: String(cString: zmq_strerror(code)), operation: operation)
    }

    package var description: String { "\(operation): \(message) (errno \(code))" }

    /// The call would have blocked (no peer ready, or a high-water mark reached).
    package var wouldBlock: Bool { code == EAGAIN }
    /// A ROUTER with `ROUTER_MANDATORY` could not route to the identity it was given.
    package var hostUnreachable: Bool { code == EHOSTUNREACH }
    /// The socket or its context is being shut down.
    package var terminated: Bool { code == ETERM }
    /// A blocking call was interrupted by a signal; the caller simply tries again.
    package var interrupted: Bool { code == EINTR }
}

/// The process's libzmq context. Contexts are thread-safe; sockets are not.
package final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// One context serves the whole process, as libzmq recommends.
    package static let shared = ZMQContext()

    package init() {
        guard let handle = zmq_ctx_new() else { fatalError("zmq_ctx_new failed: \(ZMQError.last("zmq_ctx_new"))") }
        // Never let context termination wait on unsent messages: shutdown must not hang.
        zmq_ctx_set(handle, ZMQ_BLOCKY, 0)
        self.handle = handle
    }

    /// libzmq's version, for logs and benchmark reports.
    package static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}

/// The socket patterns this project uses.
package enum SocketType: Sendable {
    case pair, publisher, subscriber, request, reply, dealer, router

    var raw: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .publisher: ZMQ_PUB
        case .subscriber: ZMQ_SUB
        case .request: ZMQ_REQ
        case .reply: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        }
    }
}

/// The socket options DESIGN §3 names. Durations are whole milliseconds, as libzmq takes them.
package enum SocketOption: Sendable {
    /// How long unsent messages are kept after close; 0 drops them so close never waits.
    case linger(milliseconds: Int32)
    /// A ROUTER reports an unroutable message as `EHOSTUNREACH` instead of dropping it silently.
    case routerMandatory(Bool)
    /// Queue messages only to completed connections, so a send with no live peer fails at once.
    case immediate(Bool)
    /// Peers that send a larger message are disconnected.
    case maxMessageSize(bytes: Int64)
    case sendHighWaterMark(Int32)
    case receiveHighWaterMark(Int32)
    /// ZMTP heartbeats: a ping every `interval`, the connection dropped after `timeout` without traffic.
    case heartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32, ttlMilliseconds: Int32)
    case sendTimeout(milliseconds: Int32)
    case receiveTimeout(milliseconds: Int32)
    case reconnectInterval(milliseconds: Int32)
    case subscribe(prefix: [UInt8])
    case unsubscribe(prefix: [UInt8])
    case routingID([UInt8])
}

/// One libzmq socket. Not thread-safe: it belongs to the thread that uses it (DESIGN §3);
/// it may be handed to another thread once, before that thread starts using it.
package final class ZMQSocket {
    private var handle: UnsafeMutableRawPointer?
    private let message: UnsafeMutablePointer<zmq_msg_t>
    package let type: SocketType

    package init(_ type: SocketType, context: ZMQContext = .shared) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else { throw .last("zmq_socket") }
        self.handle = handle
        self.type = type
        self.message = .allocate(capacity: 1)
        // Explicit, short linger: a closing socket never holds the process up.
        try set(.linger(milliseconds: 0))
    }

    deinit {
        close()
        message.deallocate()
    }

    private func live(_ operation: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, message: "socket is closed", operation: operation) }
        return handle
    }

    package func set(_ option: SocketOption) throws(ZMQError) {
        switch option {
        case .linger(let ms): try setInt(ZMQ_LINGER, ms)
        case .routerMandatory(let on): try setInt(ZMQ_ROUTER_MANDATORY, on ? 1 : 0)
        case .immediate(let on): try setInt(ZMQ_IMMEDIATE, on ? 1 : 0)
        case .maxMessageSize(let bytes): try setRaw(ZMQ_MAXMSGSIZE, bytes)
        case .sendHighWaterMark(let n): try setInt(ZMQ_SNDHWM, n)
        case .receiveHighWaterMark(let n): try setInt(ZMQ_RCVHWM, n)
        case .heartbeat(let interval, let timeout, let ttl):
            try setInt(ZMQ_HEARTBEAT_IVL, interval)
            try setInt(ZMQ_HEARTBEAT_TIMEOUT, timeout)
            try setInt(ZMQ_HEARTBEAT_TTL, ttl)
        case .sendTimeout(let ms): try setInt(ZMQ_SNDTIMEO, ms)
        case .receiveTimeout(let ms): try setInt(ZMQ_RCVTIMEO, ms)
        case .reconnectInterval(let ms): try setInt(ZMQ_RECONNECT_IVL, ms)
        case .subscribe(let prefix): try setBytes(ZMQ_SUBSCRIBE, prefix)
        case .unsubscribe(let prefix): try setBytes(ZMQ_UNSUBSCRIBE, prefix)
        case .routingID(let id): try setBytes(ZMQ_ROUTING_ID, id)
        }
    }

    private func setInt(_ name: Int32, _ value: Int32) throws(ZMQError) { try setRaw(name, value) }

    private func setRaw<T: BitwiseCopyable>(_ name: Int32, _ value: T) throws(ZMQError) {
        let socket = try live("zmq_setsockopt")
        var value = value
        let rc = zmq_setsockopt(socket, name, &value, MemoryLayout<T>.size)
        if rc != 0 { throw .last("zmq_setsockopt(\(name))") }
    }

    private func setBytes(_ name: Int32, _ bytes: [UInt8]) throws(ZMQError) {
        let socket = try live("zmq_setsockopt")
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(socket, name, $0.baseAddress, $0.count) }
        if rc != 0 { throw .last("zmq_setsockopt(\(name))") }
    }

    package func bind(_ endpoint: String) throws(ZMQError) {
        if zmq_bind(try live("zmq_bind"), endpoint) != 0 { throw .last("zmq_bind(\(endpoint))") }
    }

    package func connect(_ endpoint: String) throws(ZMQError) {
        if zmq_connect(try live("zmq_connect"), endpoint) != 0 { throw .last("zmq_connect(\(endpoint))") }
    }

    package func disconnect(_ endpoint: String) throws(ZMQError) {
        if zmq_disconnect(try live("zmq_disconnect"), endpoint) != 0 { throw .last("zmq_disconnect(\(endpoint))") }
    }

    /// Sends a multipart message. With `wait: false` a send that would block throws `EAGAIN`.
    /// A single frame is queued whole or not at all; a multipart send to a peer that vanishes
    /// between frames can be cut short, so callers that retry send one frame.
    package func send(_ frames: [Data], wait: Bool = false) throws(ZMQError) {
        let socket = try live("zmq_send")
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = wait ? 0 : ZMQ_DONTWAIT
            if index < frames.count - 1 { flags |= ZMQ_SNDMORE }
            var rc: Int32
            repeat {
                rc = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
            } while rc < 0 && zmq_errno() == EINTR
            if rc < 0 { throw .last("zmq_send") }
        }
    }

    /// Receives one whole multipart message, or nil when none is ready and `wait` is false.
    package func receive(wait: Bool = false) throws(ZMQError) -> [Data]? {
        let socket = try live("zmq_recv")
        var frames: [Data] = []
        while true {
            zmq_msg_init(message)
            defer { zmq_msg_close(message) }
            var rc: Int32
            repeat {
                rc = zmq_msg_recv(message, socket, wait ? 0 : ZMQ_DONTWAIT)
            } while rc < 0 && zmq_errno() == EINTR
            if rc < 0 {
                let error = ZMQError.last("zmq_msg_recv")
                // Frames of one message arrive together; EAGAIN can only come before the first.
                if error.wouldBlock && frames.isEmpty { return nil }
                throw error
            }
            let size = zmq_msg_size(message)
            frames.append(size == 0 ? Data() : Data(bytes: zmq_msg_data(message), count: size))
            if zmq_msg_more(message) == 0 { return frames }
        }
    }

    /// The descriptor libzmq makes readable when the socket's state may have changed (ZMQ_FD), for a
    /// thread that waits on plain descriptors instead of in `zmq_poll`. It signals edges, and any
    /// operation on the socket may consume one: ask `hasInput` after the last operation before waiting.
    package func signalDescriptor() throws(ZMQError) -> Int32 {
        var fd: Int32 = -1
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(try live("zmq_getsockopt"), ZMQ_FD, &fd, &size) != 0 { throw .last("zmq_getsockopt(ZMQ_FD)") }
        return fd
    }

    /// Whether a message can be received right now (ZMQ_EVENTS); false on a closed socket, true when
    /// libzmq cannot tell (so a caller goes and looks rather than wait on a signal already taken).
    package var hasInput: Bool {
        guard let handle else { return false }
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) == 0 else { return true }
        return events & Int32(ZMQ_POLLIN) != 0
    }

    /// Closes the socket now; later calls throw. Closing twice is harmless.
    package func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    var pollHandle: UnsafeMutableRawPointer? { handle }
}
