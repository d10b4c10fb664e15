import Foundation
import Logging
import ServiceKit
import ServiceLifecycle

/// The admission tick as a ServiceLifecycle `Service`: every `interval` it runs one
/// `WaitingRoom.tick(now:)` at the clock's time, until graceful shutdown.
struct AdmissionLoop: Service {
    let room: WaitingRoom
    let clock: any WallClock
    let logger: Logger
    var interval: Duration = .milliseconds(100)

    func run() async throws {
        QueueMetrics.declare()
        try? await cancelWhenGracefulShutdown {
            var next = ContinuousClock.now
            var lastCounted = ContinuousClock.now - .seconds(1)
            while !Task.isCancelled {
                do {
                    // The line's length, for `queue_waiting_tokens`, about once a second.
                    let count = ContinuousClock.now - lastCounted >= .seconds(1)
                    if count { lastCounted = .now }
                    try await room.tick(now: clock.now(), countWaiting: count)
                } catch is CancellationError {
                    return
                } catch {
                    // A busy or failing database skips a tick; the next one admits what this one did not.
                    logger.error("admission tick failed", metadata: ["queue.error": .string("\(error)")])
                }
                // A fixed cadence, so ticks do not drift; a tick that overran waits a whole interval
                // rather than letting the loop run back to back on a busy machine.
                next += interval
                if next < ContinuousClock.now { next = ContinuousClock.now + interval }
                try await Task.sleep(until: next)
            }
        }
    }
}
