import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit
import ServiceLifecycle
import Synchronization

/// Expires each payer's queue token after a payment (CONTRACT §3: within a second, freeing the
/// slot): a saga step of its own, kept in `token_expiry` and sent until the queue answers, so a
/// queue that is down for a while, or a lost event, cannot leave the token active.
final class PayerTokenExpiry: Service, CustomStringConvertible {
    private let database: ReservationDatabase
    private let peers: PeerClients
    private let logger: Logger
    private let backoff: ClosedRange<Duration>
    private let wakeUps = WakeUps()

    init(database: ReservationDatabase, peers: PeerClients, logger: Logger,
         backoff: ClosedRange<Duration> = .milliseconds(100) ... .seconds(2)) {
        self.database = database
        self.peers = peers
        self.logger = logger
        self.backoff = backoff
    }

    var description: String { "PayerTokenExpiry" }

    /// Tells it a payment has committed.
    func nudge() { wakeUps.nudge() }

    func run() async throws {
        let delay = Mutex(backoff.lowerBound)
        await wakeUps.run { [self] in
            do {
                while try await expirePending() {}
                delay.withLock { $0 = backoff.lowerBound }
            } catch {
                // The queue did not answer: wait, then try again (the tick would too, later).
                let wait = delay.withLock { current in defer { current = min(current * 2, backoff.upperBound) }; return current }
                logger.notice("payer token expiry will be retried", metadata: ["saga.error": .string("\(error)")])
                try? await Task.sleep(for: wait)
                wakeUps.nudge()
            }
        }
    }

    /// Expires a batch of payers' tokens, several at once; answers whether a full batch was done
    /// (there may be more). Throws when the queue did not answer, leaving the rest for later.
    func expirePending(batch: Int = 64) async throws -> Bool {
        let pending = try await database.pendingTokenExpiries(limit: batch)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for expiry in pending {
                group.addTask { [self] in
                    let request = ExpireToken(userId: expiry.userId, issuedBefore: expiry.issuedBefore)
                    do {
                        _ = try await peers[.queue].call(QueueAPI.expire, request, timeout: .seconds(2))
                    } catch let refusal as RemoteError where !SagaRunner.retriedCodes.contains(refusal.code) {
                        // The queue decided (no such user, say): there is nothing left to expire.
                        logger.warning("payer token expiry refused", metadata: ["saga.id": .stringConvertible(expiry.reservationId),
                                                                                "saga.refusal": .string(refusal.description)])
                    }
                    try await database.tokenExpired(expiry.reservationId)
                }
            }
            try await group.waitForAll()
        }
        return pending.count == batch
    }
}
