import Foundation
import ServiceLifecycle
import Synchronization
import ZeroMQ

/// What a `SocketLoop` does with its socket. Every method runs on the loop's own thread,
/// the only thread that touches the socket.
protocol SocketLoopDriver: AnyObject, Sendable {
    /// One whole incoming message.
    func received(_ frames: [Data], on socket: ZMQSocket)
    /// Sends what other threads queued and expires what is overdue. Returns how long the loop
    /// may sleep before it must be called again (nil: until woken or a message arrives).
    func service(_ socket: ZMQSocket, now: ContinuousClock.Instant) -> Duration?
    /// The loop has stopped; the socket closes right after.
    func stopped(_ socket: ZMQSocket)
}

/// Runs one socket on a dedicated thread: `zmq_poll` over the socket and an `eventfd`, so other
/// threads hand it work with `wake()` and Swift's cooperative pool never blocks in libzmq (DESIGN §3).
/// This is the only socket loop in the project; servers, clients, publishers and subscribers drive it.
final class SocketLoop: Sendable {
    private let wakeSignal: WakeSignal
    /// Set by `wake()` and cleared by the loop before it services its driver: work handed over
    /// while a wake-up is already on its way needs no second write to the eventfd.
    private let wakePending = Atomic<Bool>(false)
    private let stopRequested = Atomic<Bool>(false)
    private let exit = Mutex<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Takes ownership of `socket` (already bound or connected) and starts its thread.
    init(name: String, socket: sending ZMQSocket, driver: some SocketLoopDriver, receivesInput: Bool = true) throws(ZMQError) {
        let wakeSignal = try WakeSignal()
        self.wakeSignal = wakeSignal
        let owned = UncheckedBox(socket)
        let thread = Thread { [self] in
            self.run(socket: owned.value, driver: driver, receivesInput: receivesInput)
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

    private func run(socket: ZMQSocket, driver: some SocketLoopDriver, receivesInput: Bool) {
        let clock = ContinuousClock()
        var targets: [PollTarget] = [.fileDescriptor(wakeSignal.fileDescriptor)]
        if receivesInput { targets.append(.socket(socket)) }
        while !stopRequested.load(ordering: .acquiring) {
            // An exchange, not a store: reading the value a caller's exchange wrote orders that
            // caller's queued work before the service call below (a plain store gives no such edge).
            _ = wakePending.exchange(false, ordering: .acquiringAndReleasing)
            let sleep = driver.service(socket, now: clock.now)
            let timeout = sleep.map { max(0, Int(($0 / .milliseconds(1)).rounded(.up))) } ?? -1
            let ready: [Bool]
            do {
                ready = try poll(targets, timeoutMilliseconds: timeout)
            } catch {
                // Only a closed context makes zmq_poll fail; nothing more can be done here.
                break
            }
            if ready[0] { wakeSignal.drain() }
            if receivesInput && ready[1] {
                // Drain what is waiting, in bounded batches so queued sends are not starved.
                for _ in 0..<512 {
                    guard let frames = try? socket.receive() else { break }
                    driver.received(frames, on: socket)
                }
            }
        }
        // One last pass sends what was queued just before the stop (replies, events).
        _ = driver.service(socket, now: clock.now)
        driver.stopped(socket)
        socket.close()
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

/// Moves a non-Sendable value into the thread that becomes its only user.
private struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
