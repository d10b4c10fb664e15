import GRDB
import Messaging
import Metrics
import Synchronization
import Tracing

/// The one writer of a service's SQLite file, committing together whatever waits (DESIGN §6).
///
/// A write that arrives while a transaction runs waits; when the writer is free it takes every
/// write that waits, runs them in one `BEGIN IMMEDIATE` transaction, each in a savepoint of its own
/// (a write that throws rolls back only its own savepoint and gets its own error), commits once
/// with the file's `synchronous=FULL`, and only then answers them all. So no answer, and no event a
/// caller publishes after its write returns, ever leaves before the commit that makes it true, and
/// a burst of N writes costs one fsync and one trip to the writer's thread instead of N.
///
/// When the batch itself fails (the commit, or SQLite aborting the whole transaction) nothing of it
/// was kept, and each write is run again alone in a transaction of its own, as if it had arrived
/// by itself: one bad write never costs the others their answer.
package final class GroupCommit: Sendable {
    package let writer: any DatabaseWriter
    private let state = Mutex(State())

    /// What the writer has done, for tests and metrics: batches committed and the writes in them.
    package struct Statistics: Sendable, Equatable {
        package var batches = 0
        package var writes = 0
        package var largestBatch = 0
        /// Batches that failed as a whole and whose writes were run again one by one.
        package var retriedAlone = 0
    }

    private struct State {
        var waiting: [any BatchedWrite] = []
        var draining = false
        var statistics = Statistics()
    }

    package init(_ writer: any DatabaseWriter) {
        self.writer = writer
        // Made now, so the series exist from the start (a rate over a missing series shows nothing).
        _ = (Self.batchSizes, Self.retriedAlone)
    }

    package var statistics: Statistics { state.withLock { $0.statistics } }

    /// Writes queued for the next batch (tests use it to know a batch is formed).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Runs `work` in the next batch and returns its result once that batch has committed. `work`
    /// sees the writes batched before it, as if they had committed just before it began.
    /// Inside a trace, the wait and the commit are one span (`sqlite.transaction`) of the caller's.
    package func write<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        guard InstrumentationContext.current != nil else { return try await enqueue(work) }
        return try await withSpan("sqlite.transaction") { _ in try await enqueue(work) }
    }

    private func enqueue<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let pending = PendingWrite(work: work, continuation: continuation)
            let startDrain = state.withLock { state in
                state.waiting.append(pending)
                defer { state.draining = true }
                return !state.draining
            }
            if startDrain { writer.asyncWriteWithoutTransaction { db in self.drain(db) } }
        }
    }

    // MARK: On the writer's thread

    /// Commits batches until nothing waits.
    private func drain(_ db: Database) {
        while true {
            let batch = state.withLock { state -> [any BatchedWrite] in
                defer { state.waiting = [] }
                if state.waiting.isEmpty { state.draining = false }
                return state.waiting
            }
            if batch.isEmpty { return }
            commit(batch, db)
        }
    }

    private func commit(_ batch: [any BatchedWrite], _ db: Database) {
        do {
            try db.inTransaction(.immediate) {
                for write in batch {
                    let failure = write.perform(db)
                    // SQLite rolled the whole transaction back (disk full, I/O error): what ran before
                    // is gone, and running on would commit the later writes one by one, unbatched.
                    guard db.isInsideTransaction else { throw BatchAborted(cause: failure) }
                }
                return .commit
            }
        } catch {
            if batch.count == 1 {
                batch[0].answer(batchFailure: (error as? BatchAborted)?.cause ?? error)
            } else {
                state.withLock { $0.statistics.retriedAlone += 1 }
                Self.retriedAlone.increment()
                for write in batch { commit([write], db) }
            }
            return
        }
        state.withLock { state in
            state.statistics.batches += 1
            state.statistics.writes += batch.count
            state.statistics.largestBatch = max(state.statistics.largestBatch, batch.count)
        }
        Self.batchSizes.record(batch.count)
        for write in batch { write.answer(batchFailure: nil) }
    }

    /// Writes per committed transaction (`group_commit_batch_size`), and batches run again alone.
    private static let batchSizes = StackMetrics.sizes("group_commit_batch_size")
    private static let retriedAlone = StackMetrics.counter("group_commit_retried_alone_total")

    private struct BatchAborted: Error {
        let cause: (any Error)?
    }
}

/// A write waiting for its batch, type-erased so one batch holds writes of any result type.
private protocol BatchedWrite: Sendable {
    /// Runs the work in a savepoint of its own and keeps its outcome; answers its own failure.
    func perform(_ db: Database) -> (any Error)?
    /// Answers the caller once the batch is settled: the work's outcome if it committed, else why not.
    func answer(batchFailure: (any Error)?)
}

/// Touched by the writer's thread only, one batch at a time, so its outcome needs no lock.
private final class PendingWrite<T: Sendable>: BatchedWrite, @unchecked Sendable {
    private let work: @Sendable (Database) throws -> T
    private let continuation: CheckedContinuation<T, any Error>
    private var outcome: Result<T, any Error>?

    init(work: @escaping @Sendable (Database) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        self.work = work
        self.continuation = continuation
    }

    func perform(_ db: Database) -> (any Error)? {
        do {
            var value: T?
            try db.inSavepoint {
                value = try work(db)
                return .commit
            }
            guard let value else { throw DatabaseError(message: "a batched write returned no value") }
            outcome = .success(value)
            return nil
        } catch {
            outcome = .failure(error)
            return error
        }
    }

    func answer(batchFailure: (any Error)?) {
        if let batchFailure {
            continuation.resume(throwing: batchFailure)
        } else {
            continuation.resume(with: outcome ?? .failure(DatabaseError(message: "a batched write was never run")))
        }
    }
}
