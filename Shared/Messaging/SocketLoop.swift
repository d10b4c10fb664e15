import Foundation
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// What a `SocketLoop` does with its socket. `service` and `stopped` run with the socket held, on
/// the loop's thread or, for `service`, on a thread that called `serviceNow`; one at a time.
protocol SocketLoopDriver: AnyObject, Sendable {
    /// One whole incoming message. Called with the socket free, so that what it hands over (a reply
    /// to a waiting caller) can be sent at once by whoever takes it; replies it queues itself leave
    /// on the loop's next pass, which comes before the loop sleeps again.
    func received(_ frames: [Data])
    /// Sends what other threads queued and expires what is overdue. Returns how long the loop
    /// may sleep before it must be called again (nil: until woken or a message arrives).
    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration?
    /// The loop has stopped; the socket closes right after.
    func stopped(_ socket: ZMQSocket)
}

/// Runs one socket on a dedicated thread that waits in `poll` on an `eventfd` and the socket's own
/// signal descriptor (ZMQ_FD), so Swift's cooperative pool never blocks in libzmq (DESIGN §3).
/// Work is handed over two ways: `wake()` asks the loop's thread to do it, and `serviceNow(_:)` does
/// it on the calling thread when the socket is free, so a request or a reply leaves without a
/// thread switch. A lock makes sure one thread at a time uses the socket, and gives the full memory
/// barrier libzmq asks of a socket that moves between threads; the loop's thread holds it only
/// while it sends and receives.
/// This is the only socket loop in the project; servers, clients, publishers and subscribers drive it.
final class SocketLoop: Sendable {
    private let wakeSignal: WakeSignal
    /// Set by `wake()` and cleared by the loop before it services its driver: work handed over
    /// while a wake-up is already on its way needs no second write to the eventfd.
    private let wakePending = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    private let exit = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    private let receivesInput: Bool
    /// The socket, held by whichever thread is using it: the loop's thread while it works, or a
    /// caller of `serviceNow` while the loop's thread sleeps.
    private let held: Mutex<Held>

    private struct Held {
        /// Nil once the loop has closed it.
        var socket: ZMQSocket?
        /// When the sleeping loop's thread wakes by itself (nil: only when signalled or input arrives).
        var wakesAt: ContinuousClock.Instant?
    }

    /// Takes ownership of `socket` (already bound or connected) and starts its thread.
    init(name: String, socket: sending ZMQSocket, driver: some SocketLoopDriver, receivesInput: Bool = true) throws(ZMQError) {
        let wakeSignal = try WakeSignal()
        self.wakeSignal = wakeSignal
        self.receivesInput = receivesInput
        let inputSignal = receivesInput ? try socket.signalDescriptor() : nil
        self.held = Mutex(Held(socket: socket, wakesAt: nil))
        let thread = Thread { [self] in
            self.run(driver: driver, inputSignal: inputSignal)
        }
        thread.name = name
        thread.start()
    }

    /// Asks the loop to call its driver's `service` soon. Safe from any thread.
    func wake() {
        // Whoever finds the flag clear signals; the loop clears it before looking for work, so work
        // queued before a caller found it set is seen by the service call that wake-up brings.
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing) { wakeSignal.signal() }
    }

    /// Calls `driver.service` on the calling thread when no other thread is using the socket (the
    /// loop's thread waits with the socket free), so the work just queued leaves at once; when the
    /// socket is busy, wakes the loop's thread to do it instead of waiting for the lock (waiting
    /// measured worse: a contended lock is a thread switch too). The loop's thread is woken as well
    /// when it must look again: input is waiting (this thread's use of the socket may have consumed
    /// the edge ZMQ_FD gives for it), or the driver needs a timer sooner than the one the loop
    /// sleeps on. Safe from any thread that holds none of the driver's locks.
    func serviceNow(_ driver: some SocketLoopDriver) {
        let settled = held.withLockIfAvailable { held -> Bool in
            guard let socket = held.socket else { return false }
            let now = ContinuousClock.now
            let sleep = driver.service(socket, now: now)
            if receivesInput && socket.hasInput { return false }
            guard let sleep else { return true }
            guard let wakesAt = held.wakesAt else { return false }
            return now + sleep >= wakesAt
        }
        if settled != true { wake() }
    }

    /// Asks the loop to stop without waiting for it.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeSignal.signal()
    }

    /// Stops the loop and returns once its thread has closed the socket.
    func stop() async {
        requestStop()
        await stopped()
    }

    /// Returns once the loop has stopped (by `requestStop()`, from any thread) and closed the socket.
    func stopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDone = exit.withLock { state in
                if state.done { return true }
                state.waiters.append(continuation)
                return false
            }
            if alreadyDone { continuation.resume() }
        }
    }

    private func run(driver: some SocketLoopDriver, inputSignal: Int32?) {
        let clock = ContinuousClock()
        var targets: [PollTarget] = [.fileDescriptor(wakeSignal.fileDescriptor)]
        if let inputSignal { targets.append(.fileDescriptor(inputSignal)) }
        while !stopRequested.load(ordering: .acquiring) {
            // An exchange, not a store: reading the value a caller's exchange wrote orders that
            // caller's queued work before the service call below (a plain store gives no such edge).
            _ = wakePending.exchange(false, ordering: .acquiringAndReleasing)
            let (arrived, timeout) = held.withLock { held -> ([[Data]], Int) in
                guard let socket = held.socket else { return ([], -1) }
                let now = clock.now
                let sleep = driver.service(socket, now: now)
                // Receive until none is waiting: ZMQ_FD signals edges, so input left unread would
                // not wake the poll below. Bounded, so queued sends are not starved.
                var arrived: [[Data]] = []
                while receivesInput && arrived.count < 512, let frames = try? socket.receive() {
                    arrived.append(frames)
                }
                held.wakesAt = sleep.map { now + $0 }
                return (arrived, sleep.map { max(0, Int(($0 / .milliseconds(1)).rounded(.up))) } ?? -1)
            }
            if !arrived.isEmpty {
                for frames in arrived { driver.received(frames) }
                // Look again before sleeping: replies just queued, input that came meanwhile.
                continue
            }
            do {
                // Only plain descriptors: the socket itself is free for `serviceNow` meanwhile.
                if try poll(targets, timeoutMilliseconds: timeout)[0] { wakeSignal.drain() }
            } catch {
                // Only a closed context makes zmq_poll fail; nothing more can be done here.
                break
            }
        }
        held.withLock { held in
            guard let socket = held.socket else { return }
            // One last pass sends what was queued just before the stop (replies, events).
            _ = driver.service(socket, now: clock.now)
            driver.stopped(socket)
            socket.close()
            held.socket = nil
        }
        let waiters = exit.withLock { state in
            state.done = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// A component that owns a socket loop and runs as a ServiceLifecycle `Service`: started, kept
/// until graceful shutdown, then stopped its own way (a server drains first); on cancellation it
/// stops at once.
package protocol SocketService: Service {
    func start() throws(ZMQError)
    func stop() async
    /// Stops without draining or waiting.
    func stopNow()
}

extension SocketService {
    package func run() async throws {
        try start()
        await withTaskCancellationHandler {
            try? await gracefulShutdown()
        } onCancel: {
            stopNow()
        }
        await stop()
    }
}

extension ZMQSocket {
    /// The options every long-lived socket of this project shares (DESIGN §3): a frame limit,
    /// ZMTP heartbeats so a dead peer is noticed in seconds, and deep queues for bursts.
    func applyStandardOptions() throws(ZMQError) {
        try set(.maxMessageSize(bytes: Int64(WireCodec.maxFrameBytes)))
        try set(.heartbeat(intervalMilliseconds: 1000, timeoutMilliseconds: 3000, ttlMilliseconds: 3000))
        try set(.sendHighWaterMark(100_000))
        try set(.receiveHighWaterMark(100_000))
    }
}
