import Contracts
import Foundation
import Logging
import Metrics
import Messaging
import ServiceKit
import ServiceLifecycle
import Synchronization

/// How a saga's drive ended.
enum SagaEnd: Sendable, Equatable {
    /// Every step succeeded, compensations included.
    case finished
    /// A payment committed: the answer stored for its key, in the same transaction as the sale.
    case paid(PaymentView)
    /// The saga stopped on a refusal that leaves the reservation as it was (a debit refused for
    /// want of money): the caller is told this error, and may try again.
    case refused(RemoteError)
    /// The runner stopped (shutdown) before the saga finished; it resumes at the next start.
    case interrupted
}

/// Drives sagas (DESIGN §4): each step's request goes to the service that owns it, its outcome is
/// committed with the next step (a payment's extend and debit are carried in memory to its one
/// final commit; docs/sagas.md says why that is safe), and a step without an answer is sent again
/// with backoff until it gets one. Every step is idempotent, keyed by the reservation id, so
/// sending one twice is safe.
/// One task drives a given saga at a time; on start the runner resumes every saga left unfinished.
final class SagaRunner: Service, CustomStringConvertible {
    /// When a test stops a saga as if the process had died: before a step's request goes out, or
    /// after its answer came but before that was recorded.
    enum Moment: Sendable { case beforeSend, afterAnswer }
    typealias Interruption = @Sendable (_ reservationId: Int64, _ step: SagaStep, _ moment: Moment) -> Bool

    let database: ReservationDatabase
    let peers: PeerClients
    let clock: any WallClock
    let logger: Logger
    private let callTimeout: Duration
    private let backoff: ClosedRange<Duration>
    private let interruption: Interruption?
    private let afterPayment: @Sendable () -> Void
    private let relay: OutboxRelay?
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        /// The task driving each reservation's saga.
        var running: [Int64: Task<Void, Never>] = [:]
        /// Reservations asked to be driven while a drive of theirs was running: that drive may have
        /// read its saga before the new one was committed, so another follows it.
        var driveAgain: Set<Int64> = []
        /// Sagas a request waits for, by run id: who waits, or how the run ended.
        var watches: [String: Watch] = [:]
    }

    private enum Watch {
        case waiting([FirstAnswer])
        case ended(SagaEnd)
    }

    /// - Parameters:
    ///   - afterPayment: called when a payment committed, so the payer's token is expired at once.
    ///   - relay: nudged after a commit that queued events.
    ///   - interruption: for tests only: stops a saga at a chosen step, as a crash would.
    init(database: ReservationDatabase, peers: PeerClients, clock: any WallClock, logger: Logger,
         relay: OutboxRelay?, callTimeout: Duration = .seconds(2),
         backoff: ClosedRange<Duration> = .milliseconds(50) ... .seconds(2),
         afterPayment: @escaping @Sendable () -> Void = {}, interruption: Interruption? = nil) {
        self.database = database
        self.peers = peers
        self.clock = clock
        self.logger = logger
        self.relay = relay
        self.callTimeout = callTimeout
        self.backoff = backoff
        self.afterPayment = afterPayment
        self.interruption = interruption
        SagaMetrics.declare()
    }

    var description: String { "SagaRunner" }

    /// Drives sagas until shutdown, then stops them where they are (bounded), for the next start.
    /// Unfinished sagas are resumed by `resumeAll`, before the service takes requests.
    func run() async throws {
        try? await gracefulShutdown()
        stop()
        // Let the cancelled drives finish the write they may be in, before the clients close.
        let deadline = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < deadline, !state.withLock({ $0.running.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Drives every saga in the table. One asking concert for a hold when the last process
    /// stopped is abandoned: its caller was never told it succeeded. Call it before the RPC
    /// server starts, so that no saga of a new request is mistaken for an old one.
    func resumeAll() async throws {
        let sagas = try await database.sagas()
        if !sagas.isEmpty { logger.notice("resuming unfinished sagas", metadata: ["saga.count": .stringConvertible(sagas.count)]) }
        for saga in sagas {
            if saga.kind == .reserve { try await database.abandonHold(id: saga.reservationId, now: clock.now()) }
            drive(saga.reservationId)
        }
    }

    /// Cancels every drive; their sagas stay in the table for the next start.
    func stop() {
        let (tasks, waiters) = state.withLock { state in
            state.stopped = true
            let waiters = state.watches.values.flatMap { watch -> [FirstAnswer] in
                if case .waiting(let answers) = watch { answers } else { [] }
            }
            return (Array(state.running.values), waiters)
        }
        for task in tasks { task.cancel() }
        for waiter in waiters { waiter.give(.interrupted) }
    }

    /// Makes sure a task drives the reservation's saga (if it has one). `rows`, when given, are the
    /// saga and reservation as the transaction that started the saga wrote them, so the drive's
    /// first step needs no read; a drive already running ignores them and reads.
    func drive(_ id: Int64, from rows: SagaRows? = nil) {
        state.withLock { state in
            guard !state.stopped else { return }
            guard state.running[id] == nil else {
                state.driveAgain.insert(id)
                return
            }
            state.running[id] = Task { await self.driveToEnd(id, from: rows) }
        }
    }

    /// Registers interest in a saga run before it is started, so its end is never missed.
    func watch(_ runId: String) {
        state.withLock { $0.watches[runId] = .waiting([]) }
    }

    func unwatch(_ runId: String) {
        _ = state.withLock { $0.watches.removeValue(forKey: runId) }
    }

    /// Drives the reservation's saga and waits for the watched run to end, or `limit`, whichever
    /// comes first; nil at the limit (the saga goes on regardless).
    func awaitEnd(_ id: Int64, run runId: String, from rows: SagaRows? = nil, within limit: Duration) async -> SagaEnd? {
        drive(id, from: rows)
        return await withCheckedContinuation { (continuation: CheckedContinuation<SagaEnd?, Never>) in
            let answer = FirstAnswer(continuation)
            let ended: SagaEnd?? = state.withLock { state in
                if state.stopped { return .some(.interrupted) }
                switch state.watches[runId] {
                case .ended(let end): return .some(end)
                case .waiting(let answers):
                    state.watches[runId] = .waiting(answers + [answer])
                    return .none
                case nil:
                    return .some(nil)
                }
            }
            if let ended {
                answer.give(ended)
                return
            }
            answer.expire(after: limit)
        }
    }

    // MARK: Driving

    private func driveToEnd(_ id: Int64, from rows: SagaRows?) async {
        var logger = self.logger
        logger[metadataKey: "saga.id"] = .stringConvertible(id)
        await steps(id, from: rows, logger: logger)
        let again = state.withLock { state in
            state.running[id] = nil
            return state.driveAgain.remove(id) != nil && !state.stopped
        }
        // A saga started while this drive was ending found it still running: drive that one too.
        if again { drive(id) }
    }

    /// Tells whoever watches the run how it ended.
    private func ended(_ runId: String, _ end: SagaEnd) {
        let waiters = state.withLock { state -> [FirstAnswer] in
            guard case .waiting(let answers) = state.watches[runId] else { return [] }
            state.watches[runId] = .ended(end)
            return answers
        }
        for waiter in waiters { waiter.give(end) }
    }

    private func steps(_ id: Int64, from rows: SagaRows?, logger: Logger) async {
        var delay = backoff.lowerBound
        var current: String?
        var progress = PayProgress()
        var given = rows
        var failedStep: SagaStep?
        func end(_ end: SagaEnd) { if let current { ended(current, end) } }
        while !Task.isCancelled {
            failedStep = nil
            do {
                // The first step may start from the rows its saga was started with; every later one reads.
                let found: SagaRows?
                if let rows = given {
                    found = rows
                    given = nil
                } else {
                    found = try await database.sagaWithReservation(of: id)
                }
                guard let (saga, record) = found.map({ ($0.saga, $0.reservation) }) else { return end(.finished) }
                if current != saga.runId {
                    end(.finished)
                    current = saga.runId
                    progress = PayProgress()
                }
                if interruption?(id, saga.step, .beforeSend) == true { return end(.interrupted) }
                failedStep = saga.step
                // Each step is a span of the trace of the request that started the saga, whichever
                // process drives it (a resumed saga after a restart too).
                let result = try await TraceHeader.withSpan("saga.\(saga.kind.rawValue).\(saga.step.rawValue)", continuing: saga.traceparent) {
                    logger.debug("saga step", metadata: ["saga.kind": .string(saga.kind.rawValue), "saga.step": .string(saga.step.rawValue)])
                    return try await perform(saga, record, &progress, logger: logger)
                }
                SagaMetrics.step(saga, result)
                switch result {
                case .next:
                    delay = backoff.lowerBound
                case .end(let result):
                    return end(result)
                case .interrupted:
                    return end(.interrupted)
                }
            } catch is CancellationError {
                return end(.interrupted)
            } catch {
                // No answer, or a local failure: the step is sent again after a pause.
                SagaMetrics.retry(failedStep)
                logger.notice("saga step will be retried", metadata: ["saga.error": .string("\(error)"),
                                                                      "saga.retryIn": .stringConvertible(delay)])
                do {
                    try await Task.sleep(for: jittered(delay))
                } catch {
                    return end(.interrupted)
                }
                delay = min(delay * 2, backoff.upperBound)
            }
        }
        end(.interrupted)
    }

    enum StepResult {
        case next
        case end(SagaEnd)
        case interrupted
    }

    /// What one run of a payment learned and has not written down. Extend and debit are idempotent
    /// (keyed by the reservation), so their outcomes get no commit of their own: the run goes on in
    /// memory to confirm, and commits once at the end. A run that stops on the way leaves the saga at
    /// the step it was stored at, and the next run asks again (docs/sagas.md).
    private struct PayProgress {
        var extended = false
        /// Until when concert extended the hold; nil when it answered the seat as sold.
        var heldUntil: Date?
        var receipt: PaymentReceipt?
    }

    /// Sends the saga's current step and records its outcome. Throws when there was no usable answer.
    private func perform(_ saga: SagaRecord, _ record: ReservationRecord, _ progress: inout PayProgress,
                         logger: Logger) async throws -> StepResult {
        let id = saga.reservationId
        let key = record.sagaKey
        let step = saga.step
        let now = { self.clock.now() }
        switch step {
        case .hold:
            // Only the request that started it drives a hold; one found here was interrupted.
            try await database.abandonHold(id: id, now: now())

        case .extend, .debit, .confirm:
            return try await pay(saga, record, &progress)

        case .void:
            let outcome = try await call(PaymentAPI.void, Refund(reservationId: key))
            if isInterrupted(id, step) { return .interrupted }
            switch outcome {
            case .success(let receipt):
                let note = receipt.refunded ? "payment of \(receipt.amount) refunded" : "no payment; debits barred"
                try await database.advance(id, from: .void, to: .release, note: note, now: now())
            case .failure(let refusal):
                // Money may be held for a canceled reservation: never move on; retry, loudly, until it is settled.
                logger.error("void refused; will retry", metadata: ["saga.refusal": .string(refusal.description)])
                throw refusal
            }

        case .release:
            let outcome = try await call(ConcertAPI.release, SeatClaim(seatId: record.concertSeatId, reservationId: key))
            if isInterrupted(id, step) { return .interrupted }
            let note = switch outcome {
            case .success(let seat): seat.reservationId == nil ? "seat released" : "seat was not this reservation's"
            case .failure(let refusal): "release refused (\(refusal.code))"
            }
            try await database.endSaga(id, at: .release, note: note, now: now())
            return .end(.finished)
        }
        return .next
    }

    /// A payment's forward steps, extend, debit and confirm, one after another from the step the
    /// saga is stored at, with nothing written between them: the sold seat is committed once with
    /// everything the run learned (`finishPayment`), and so is a refusal. The saga row was written
    /// before the extend, marked as one that may move money, so a compensation from any of these
    /// steps voids first. Each step can be interrupted as a crash would (tests), before its request
    /// or after its answer.
    private func pay(_ saga: SagaRecord, _ record: ReservationRecord, _ progress: inout PayProgress) async throws -> StepResult {
        let id = saga.reservationId
        let key = record.sagaKey
        let stored = saga.step
        let now = { self.clock.now() }
        if stored == .extend, !progress.extended {
            let until = record.holdExtendedTo ?? record.expiredAt
            let outcome = try await call(ConcertAPI.extend, HoldSeat(seatId: record.concertSeatId, reservationId: key, until: until))
            if isInterrupted(id, .extend) { return .interrupted }
            switch outcome {
            case .success(let seat):
                progress.extended = true
                progress.heldUntil = seat.heldUntil
            case .failure(let refusal):
                try await database.compensate(id, from: stored, reason: .holdLapsed, note: "extend refused (\(refusal.code))", now: now())
                SagaMetrics.compensation(.holdLapsed)
                relay?.nudge()
                return .next
            }
            if interruption?(id, .debit, .beforeSend) == true { return .interrupted }
        }
        let heldUntil = progress.heldUntil
        if stored != .confirm, progress.receipt == nil {
            let outcome = try await call(PaymentAPI.debit, Debit(userId: record.userId, reservationId: key, amount: record.price))
            if isInterrupted(id, .debit) { return .interrupted }
            switch outcome {
            case .success(let receipt):
                progress.receipt = receipt
            case .failure(let refusal) where refusal.code == ReservationAPI.Code.insufficientBalance:
                // Nothing was taken; the hold stays (as long as concert extended it), and the owner
                // may top up and pay again.
                try await database.endSaga(id, at: stored, note: "debit refused: \(refusal.message)", now: now()) { record in
                    if let heldUntil { record.expiredAt = max(record.expiredAt, heldUntil) }
                }
                return .end(.refused(refusal))
            case .failure(let refusal):
                try await database.compensate(id, from: stored, reason: .paymentFailed, note: "debit refused (\(refusal.code))", now: now())
                SagaMetrics.compensation(.paymentFailed)
                relay?.nudge()
                return .next
            }
            if interruption?(id, .confirm, .beforeSend) == true { return .interrupted }
        }
        let outcome = try await call(ConcertAPI.confirm, SeatClaim(seatId: record.concertSeatId, reservationId: key))
        if isInterrupted(id, .confirm) { return .interrupted }
        switch outcome {
        case .success:
            if let answer = try await database.finishPayment(id, at: stored, receipt: progress.receipt, heldUntil: heldUntil, now: now()) {
                relay?.nudge()
                afterPayment()
                return .end(.paid(answer))
            }
            return .end(.finished)
        case .failure(let refusal):
            // The hold lapsed and someone else took the seat: the debit is given back.
            try await database.compensate(id, from: stored, reason: .holdLapsed, note: "confirm refused (\(refusal.code))", now: now())
            SagaMetrics.compensation(.holdLapsed)
            relay?.nudge()
            return .next
        }
    }

    private func isInterrupted(_ id: Int64, _ step: SagaStep) -> Bool {
        interruption?(id, step, .afterAnswer) == true
    }

    /// Calls a peer. A business refusal is an answer (`.failure`); no answer, or a refusal that says
    /// nothing was done (busy, stopping, failed internally), throws so the step is sent again.
    private func call<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request) async throws -> Result<Response, RemoteError> {
        let service: ServiceName = method.name.hasPrefix("payment.") ? .payment : .concert
        do {
            return .success(try await peers[service].call(method, request, timeout: callTimeout))
        } catch let refusal as RemoteError where !Self.retriedCodes.contains(refusal.code) {
            return .failure(refusal)
        }
    }

    /// Codes that mean the request was not handled, or failed before deciding anything.
    static let retriedCodes: Set<String> = ["busy", "shutting_down", "internal", "unknown_method", "bad_request", "unsupported_version"]

    private func jittered(_ delay: Duration) -> Duration {
        delay * Double.random(in: 0.8...1.2)
    }
}

/// Resumes a continuation with whichever answer comes first, once: the saga's end, or nil at a deadline.
private final class FirstAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<SagaEnd?, Never>?>
    private let timer = Mutex<Task<Void, Never>?>(nil)

    init(_ continuation: CheckedContinuation<SagaEnd?, Never>) {
        self.continuation = Mutex(continuation)
    }

    /// Answers nil after `limit` unless answered before.
    func expire(after limit: Duration) {
        let task = Task { [weak self] in
            try? await Task.sleep(for: limit)
            self?.give(nil)
        }
        timer.withLock { $0 = task }
    }

    func give(_ end: SagaEnd?) {
        let waiting = continuation.withLock { current in
            defer { current = nil }
            return current
        }
        guard let waiting else { return }
        timer.withLock { $0 }?.cancel()
        waiting.resume(returning: end)
    }
}

/// The saga's figures: steps taken by kind, step and how they ended; steps sent again after no
/// usable answer; payments compensated, by reason. (Cancels and lapses start compensating sagas of
/// their own, counted as their steps.)
private enum SagaMetrics {
    /// Makes the retry and compensation series now, at zero, so they exist before the first one.
    static func declare() {
        for step in SagaStep.allCases { _ = StackMetrics.counter("saga_retries_total", [("step", step.rawValue)]) }
        for reason in [CancelReason.holdLapsed, .paymentFailed] { compensation(reason, by: 0) }
    }

    static func step(_ saga: SagaRecord, _ result: SagaRunner.StepResult) {
        let outcome = switch result {
        case .next: "next"
        case .end(.paid): "paid"
        case .end(.refused): "refused"
        case .end: "finished"
        case .interrupted: "interrupted"
        }
        StackMetrics.counter("saga_steps_total", [("kind", saga.kind.rawValue), ("step", saga.step.rawValue), ("outcome", outcome)]).increment()
    }

    static func retry(_ step: SagaStep?) {
        StackMetrics.counter("saga_retries_total", [("step", step?.rawValue ?? "read")]).increment()
    }

    static func compensation(_ reason: CancelReason, by count: Int64 = 1) {
        StackMetrics.counter("saga_compensations_total", [("reason", reason.rawValue)]).increment(by: count)
    }
}
