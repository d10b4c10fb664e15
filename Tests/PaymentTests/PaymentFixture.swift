import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Synchronization
import Testing
@testable import PaymentService

/// Events a `Cashier` published, in order.
final class EventLog: Sendable {
    private let events = Mutex<[(type: String, event: PaymentEvent)]>([])

    var all: [(type: String, event: PaymentEvent)] { events.withLock { $0 } }
    var types: [String] { all.map(\.type) }

    func record(_ type: String, _ event: PaymentEvent) {
        events.withLock { $0.append((type, event)) }
    }
}

/// A cashier over a migrated database with a clock the test moves, and the events it published.
struct PaymentFixture {
    let clock: ManualClock
    let events = EventLog()
    let writer: any DatabaseWriter
    let database: PaymentDatabase
    let cashier: Cashier

    /// Over a fresh in-memory database.
    init(clock: ManualClock = ManualClock()) throws {
        try self.init(writer: DatabaseOpener.openInMemory(migrator: PaymentDatabase.migrator), clock: clock)
    }

    /// Over `writer`, already migrated (a real file pool in the race tests).
    init(writer: any DatabaseWriter, clock: ManualClock = ManualClock()) {
        self.clock = clock
        self.writer = writer
        database = PaymentDatabase(writer)
        let events = self.events
        cashier = Cashier(database: database, clock: clock) { type, event in events.record(type, event) }
    }

    /// A new user whose wallet holds `balance`.
    func user(_ name: String = "alice", balance: Int64 = 0) async throws -> NewUser {
        let user = try await cashier.createUser(CreateUser(name: name))
        if balance > 0 {
            _ = try await cashier.charge(Charge(userId: user.id, amount: balance, idempotencyKey: "opening-\(UUID())"))
        }
        return user
    }

    func ledger(_ userId: Int64) async throws -> [WalletTransaction] {
        try await writer.read { db in try WalletTransaction.filter(Column("user_id") == userId).order(Column("id")).fetchAll(db) }
    }

    func balance(_ userId: Int64) async throws -> Int64 {
        try await cashier.balance(UserRef(userId: userId)).balance
    }

    /// CONTRACT §4 for every user: charges − payments + refunds = balance, and each ledger row's
    /// balance_after is the running total, never negative.
    func expectLedgerBalances(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let (wallets, rows) = try await writer.read { db in
            (try Wallet.fetchAll(db), try WalletTransaction.order(Column("id")).fetchAll(db))
        }
        for wallet in wallets {
            var running: Int64 = 0
            for row in rows where row.userId == wallet.userId {
                running += row.kind == .charge || row.kind == .refund ? row.amount : -row.amount
                #expect(row.balanceAfter == running, "ledger row \(row.id ?? 0)", sourceLocation: sourceLocation)
                #expect(running >= 0, sourceLocation: sourceLocation)
            }
            #expect(running == wallet.amount, "user \(wallet.userId)", sourceLocation: sourceLocation)
        }
    }
}

/// Runs `body` and returns the `RemoteError` it threw, failing the test when it threw none.
func refusal(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> some Any) async -> RemoteError? {
    do {
        _ = try await body()
        Issue.record("expected a refusal", sourceLocation: sourceLocation)
        return nil
    } catch let error as RemoteError {
        return error
    } catch {
        Issue.record("expected a RemoteError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
