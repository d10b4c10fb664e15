import CZeroMQ
import Foundation

/// What `poll` watches: a socket, or a plain file descriptor such as a `WakeSignal`.
package enum PollTarget {
    case socket(ZMQSocket)
    case fileDescriptor(Int32)
}

/// Waits until one of `targets` is readable, or `timeoutMilliseconds` pass (-1: no limit, 0: just look).
/// Returns, for each target in order, whether it is readable.
package func poll(_ targets: [PollTarget], timeoutMilliseconds: Int) throws(ZMQError) -> [Bool] {
    var items = targets.map { target -> zmq_pollitem_t in
        switch target {
        case .socket(let socket):
            zmq_pollitem_t(socket: socket.pollHandle, fd: -1, events: Int16(ZMQ_POLLIN), revents: 0)
        case .fileDescriptor(let fd):
            zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0)
        }
    }
    let rc = zmq_poll(&items, Int32(items.count), timeoutMilliseconds)
    if rc < 0 {
        let error = ZMQError.last("zmq_poll")
        // A signal cut the wait short: report nothing ready; callers loop anyway.
        if error.interrupted { return Array(repeating: false, count: items.count) }
        throw error
    }
    return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
}

/// An `eventfd` that wakes a thread blocked in `poll` from any other thread.
/// Signals coalesce: many `signal()` calls before one `drain()` wake the poller once.
package final class WakeSignal: @unchecked Sendable {
    package let fileDescriptor: Int32

    package init() throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw ZMQError(code: errno, message: String(cString: strerror(errno)), operation: "eventfd") }
        fileDescriptor = fd
    }

    deinit { Foundation.close(fileDescriptor) }

    /// Safe from any thread.
    package func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    /// Called by the polling thread after it woke, to reset the counter.
    package func drain() {
        var count: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &count) { read(fileDescriptor, $0.baseAddress, 8) }
    }
}
