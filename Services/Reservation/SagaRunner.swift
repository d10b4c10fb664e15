import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit
import ServiceLifecycle
import Synchronization

/// How a saga's drive ended.
enum SagaEnd: Sendable, Equatable {
    /// Every step succeeded, compensations included.
    case finished
    /// The saga stopped on a refusal that leaves the reservation as it was (a debit refused for
    /// want of money): the caller is told this error, and may try again.
    case refused(RemoteError)
    /// The runner stopped (shutdown) before the saga finished; it resumes at the next start.
    case interrupted
}

/// Drives sagas (DESIGN §4): each step's request goes to the service that owns it, its outcome is
/// committed with the next step, and a step without an answer is sent again with backoff until it
/// gets one. Every step is idempotent, keyed by the reservation id, so sending one twice is safe.
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
    private let running = Mutex<[Int64: Task<SagaEnd, Never>]>([:])
    private let stopped = Mutex(false)

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
    }

    var description: String { "SagaRunner" }

    /// Resumes every unfinished saga, then keeps driving until shutdown.
    func run() async throws {
        try await resumeAll()
        try? await gracefulShutdown()
        stop()
    }

    /// Drives every saga in the table. One asking concert for a hold when the last process
    /// stopped is abandoned: its caller was never told it succeeded.
    func resumeAll() async throws {
        let sagas = try await database.sagas()
        if !sagas.isEmpty { logger.notice("resuming unfinished sagas", metadata: ["saga.count": .stringConvertible(sagas.count)]) }
        for saga in sagas {
            if saga.kind == .reserve { try await database.abandonHold(id: saga.reservationId, now: clock.now()) }
            _ = drive(saga.reservationId)
        }
    }

    /// Cancels every drive; their sagas stay in the table for the next start.
    func stop() {
        let tasks = stopped.withLock { stopped in
            stopped = true
            return running.withLock { Array($0.values) }
        }
        for task in tasks { task.cancel() }
    }

    /// The task driving the reservation's saga: the running one, or a new one.
    @discardableResult
    func drive(_ id: Int64) -> Task<SagaEnd, Never> {
        if stopped.withLock({ $0 }) { return Task { .interrupted } }
        return running.withLock { running in
            if let task = running[id] { return task }
            let task = Task { await self.driveToEnd(id) }
            running[id] = task
            return task
        }
    }

    /// Waits for the reservation's saga to end, or `limit`, whichever comes first; nil at the limit
    /// (the saga goes on regardless). A saga that another step started meanwhile is waited for too.
    func awaitEnd(_ id: Int64, within limit: Duration) async -> SagaEnd? {
        let deadline = ContinuousClock.now + limit
        while true {
            let end = await Self.value(of: drive(id), until: deadline)
            guard end == .finished, ContinuousClock.now < deadline, (try? await database.saga(of: id)) != nil else { return end }
        }
    }

    /// The task's value, or nil at the deadline. Awaiting a task's value ignores cancellation, so
    /// the two are raced through a continuation rather than a task group, which would wait for both.
    private static func value(of task: Task<SagaEnd, Never>, until deadline: ContinuousClock.Instant) async -> SagaEnd? {
        await withCheckedContinuation { (continuation: CheckedContinuation<SagaEnd?, Never>) in
            let answer = FirstAnswer(continuation)
            let timer = Task {
                try? await Task.sleep(until: deadline)
                answer.give(nil)
            }
            Task {
                let end = await task.value
                timer.cancel()
                answer.give(end)
            }
        }
    }

    // MARK: Driving

    private func driveToEnd(_ id: Int64) async -> SagaEnd {
        var logger = self.logger
        logger[metadataKey: "saga.id"] = .stringConvertible(id)
        let end = await steps(id, logger: logger)
        _ = running.withLock { $0.removeValue(forKey: id) }
        // A drive asked for while this one was ending would have been handed this task; look again.
        if end == .finished, !stopped.withLock({ $0 }), (try? await database.saga(of: id)) != nil { _ = drive(id) }
        return end
    }

    private func steps(_ id: Int64, logger: Logger) async -> SagaEnd {
        var delay = backoff.lowerBound
        while !Task.isCancelled {
            do {
                guard let saga = try await database.saga(of: id), let record = try await database.reservation(id: id) else {
                    return .finished
                }
                if interruption?(id, saga.step, .beforeSend) == true { return .interrupted }
                switch try await perform(saga, record, logger: logger) {
                case .next:
                    delay = backoff.lowerBound
                case .end(let end):
                    return end
                case .interrupted:
                    return .interrupted
                }
            } catch is CancellationError {
                return .interrupted
            } catch {
                // No answer, or a local failure: the step is sent again after a pause.
                logger.notice("saga step will be retried", metadata: ["saga.error": .string("\(error)"),
                                                                      "saga.retryIn": .stringConvertible(delay)])
                do {
                    try await Task.sleep(for: jittered(delay))
                } catch {
                    return .interrupted
                }
                delay = min(delay * 2, backoff.upperBound)
            }
        }
        return .interrupted
    }

    private enum StepResult {
        case next
        case end(SagaEnd)
        case interrupted
    }

    /// Sends the saga's current step and records its outcome. Throws when there was no usable answer.
    private func perform(_ saga: SagaRecord, _ record: ReservationRecord, logger: Logger) async throws -> StepResult {
        let id = saga.reservationId
        let key = record.sagaKey
        let step = saga.step
        let now = { self.clock.now() }
        switch step {
        case .hold:
            // Only the request that started it drives a hold; one found here was interrupted.
            try await database.abandonHold(id: id, now: now())

        case .extend:
            let until = record.holdExtendedTo ?? record.expiredAt
            let outcome = try await call(ConcertAPI.extend, HoldSeat(seatId: record.concertSeatId, reservationId: key, until: until))
            if isInterrupted(id, step) { return .interrupted }
            switch outcome {
            case .success(let seat):
                try await database.advance(id, from: .extend, to: .debit, note: "hold kept until \(seat.heldUntil.map { "\($0)" } ?? "sold")", now: now()) {
                    $0.debitSent = true
                    if let heldUntil = seat.heldUntil { $0.expiredAt = max($0.expiredAt, heldUntil) }
                }
            case .failure(let refusal):
                try await database.compensate(id, from: .extend, reason: .holdLapsed, note: "extend refused (\(refusal.code))", now: now())
                relay?.nudge()
            }

        case .debit:
            let outcome = try await call(PaymentAPI.debit, Debit(userId: record.userId, reservationId: key, amount: record.price))
            if isInterrupted(id, step) { return .interrupted }
            switch outcome {
            case .success(let receipt):
                try await database.advance(id, from: .debit, to: .confirm, note: "debited \(receipt.amount), payment \(receipt.paymentId)", now: now()) {
                    $0.paymentId = receipt.paymentId
                    $0.paidAt = receipt.paidAt
                    $0.paidBalance = receipt.balance
                }
            case .failure(let refusal) where refusal.code == ReservationAPI.Code.insufficientBalance:
                // Nothing was taken; the hold stays, and the owner may top up and pay again.
                try await database.endSaga(id, at: .debit, note: "debit refused: \(refusal.message)", now: now())
                return .end(.refused(refusal))
            case .failure(let refusal):
                try await database.compensate(id, from: .debit, reason: .paymentFailed, note: "debit refused (\(refusal.code))", now: now())
                relay?.nudge()
            }

        case .confirm:
            let outcome = try await call(ConcertAPI.confirm, SeatClaim(seatId: record.concertSeatId, reservationId: key))
            if isInterrupted(id, step) { return .interrupted }
            switch outcome {
            case .success:
                if try await database.finishPayment(id, now: now()) != nil {
                    relay?.nudge()
                    afterPayment()
                }
                return .end(.finished)
            case .failure(let refusal):
                // The hold lapsed and someone else took the seat: the debit is given back.
                try await database.compensate(id, from: .confirm, reason: .holdLapsed, note: "confirm refused (\(refusal.code))", now: now())
                relay?.nudge()
            }

        case .void:
            let outcome = try await call(PaymentAPI.void, Refund(reservationId: key))
            if isInterrupted(id, step) { return .interrupted }
            let note = switch outcome {
            case .success(let receipt): receipt.refunded ? "payment of \(receipt.amount) refunded" : "no payment; debits barred"
            case .failure(let refusal): "void refused (\(refusal.code)); nothing to give back"
            }
            if case .failure(let refusal) = outcome { logger.error("void refused", metadata: ["saga.refusal": .string(refusal.description)]) }
            try await database.advance(id, from: .void, to: .release, note: note, now: now())

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

/// Resumes a continuation with whichever answer comes first, once.
private final class FirstAnswer: Sendable {
    private let continuation: Mutex<CheckedContinuation<SagaEnd?, Never>?>

    init(_ continuation: CheckedContinuation<SagaEnd?, Never>) {
        self.continuation = Mutex(continuation)
    }

    func give(_ end: SagaEnd?) {
        let waiting = continuation.withLock { current in
            defer { current = nil }
            return current
        }
        waiting?.resume(returning: end)
    }
}
