import Logging
import ServiceLifecycle

/// Runs `pass` every `interval` until graceful shutdown: the shape of every sweeper. A failing
/// pass (a busy disk, a peer away) is logged and the next one tries again; it never stops the service.
package func repeatUntilShutdown(every interval: Duration, logger: Logger, failure: String,
                                 _ pass: @escaping @Sendable () async throws -> Void) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            do {
                try await pass()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("\(failure)", metadata: ["loop.error": .string("\(error)")])
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// Wake-ups for a loop that works when told (right after a commit) and at least once per `tick`
/// regardless, so that nothing waits long for a nudge that was missed.
package final class WakeUps: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation
    private let tick: Duration

    package init(tick: Duration = .seconds(1)) {
        self.tick = tick
        // Nudges in a burst collapse into one wake-up.
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Wakes the loop. Cheap, and safe from any thread.
    package func nudge() { continuation.yield() }

    /// Calls `body` once per wake-up until graceful shutdown.
    package func run(_ body: @escaping @Sendable () async -> Void) async {
        let ticker = Task { [continuation, tick] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                continuation.yield()
            }
        }
        defer { ticker.cancel() }
        await cancelWhenGracefulShutdown { [stream] in
            for await _ in stream {
                if Task.isCancelled { return }
                await body()
            }
        }
    }
}
