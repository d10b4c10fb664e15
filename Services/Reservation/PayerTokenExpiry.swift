import Contracts
import Foundation
import Logging
import Messaging
import ServiceKit
import ServiceLifecycle

/// Expires each payer's queue token after a payment (CONTRACT §3: within a second, freeing the
/// slot): a saga step of its own, kept in `token_expiry` and sent until the queue answers, so a
/// queue that is down for a while, or a lost event, cannot leave the token active.
final class PayerTokenExpiry: Service, CustomStringConvertible {
    private let database: ReservationDatabase
    private let peers: PeerClients
    private let logger: Logger
    private let backoff: ClosedRange<Duration>
    private let nudges: AsyncStream<Void>
    private let nudger: AsyncStream<Void>.Continuation

    init(database: ReservationDatabase, peers: PeerClients, logger: Logger,
         backoff: ClosedRange<Duration> = .milliseconds(100) ... .seconds(2)) {
        self.database = database
        self.peers = peers
        self.logger = logger
        self.backoff = backoff
        (nudges, nudger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var description: String { "PayerTokenExpiry" }

    /// Tells it a payment has committed.
    func nudge() { nudger.yield() }

    func run() async throws {
        let ticker = Task { [nudger] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                nudger.yield()
            }
        }
        defer { ticker.cancel() }
        await cancelWhenGracefulShutdown { [self] in
            var delay = backoff.lowerBound
            for await _ in nudges {
                do {
                    while try await expirePending() {}
                    delay = backoff.lowerBound
                } catch is CancellationError {
                    return
                } catch {
                    logger.notice("payer token expiry will be retried", metadata: ["saga.error": .string("\(error)")])
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, backoff.upperBound)
                    nudger.yield()
                }
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
