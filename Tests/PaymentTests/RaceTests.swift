import Contracts
import Foundation
import GRDB
import Messaging
import ServiceKit
import Testing
import TestSupport
@testable import PaymentService

/// The races of issue 3, against the real database code on a real file (WAL pool, `synchronous=FULL`)
/// with concurrent callers.
@Suite("Concurrent money movements", .timeLimit(.minutes(3)))
struct RaceTests {
    /// Runs `body` with a fixture over a fresh file pool, then removes the file.
    func withPool(_ body: (PaymentFixture) async throws -> Void) async throws {
        let folder = try TemporaryDirectory("pay")
        defer { folder.remove() }
        let pool = try DatabaseOpener.openPool(path: folder.file("payment.sqlite"), migrator: PaymentDatabase.migrator)
        try await body(PaymentFixture(writer: pool))
        try pool.close()
    }

    @Test("100 concurrent charges under distinct keys: the balance is their sum and there are 100 ledger rows")
    func distinctCharges() async throws {
        try await withPool { fixture in
            let user = try await fixture.user()
            let cashier = fixture.cashier
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...100 {
                    group.addTask {
                        _ = try await cashier.charge(Charge(userId: user.id, amount: Int64(index), idempotencyKey: "key-\(index)"))
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await fixture.balance(user.id) == 5050)
            let rows = try await fixture.ledger(user.id)
            #expect(rows.count == 100)
            #expect(Set(rows.compactMap(\.idempotencyKey)).count == 100)
            try await fixture.expectLedgerBalances()
        }
    }

    @Test("the same charge key sent 10 times at once charges once, and every caller gets the same balance")
    func sameKeyCharges() async throws {
        try await withPool { fixture in
            let user = try await fixture.user()
            let cashier = fixture.cashier
            let answers = try await withThrowingTaskGroup(of: Balance.self) { group in
                for _ in 0..<10 {
                    group.addTask { try await cashier.charge(Charge(userId: user.id, amount: 2500, idempotencyKey: "the-key")) }
                }
                return try await group.reduce(into: [Balance]()) { $0.append($1) }
            }
            #expect(answers == Array(repeating: Balance(balance: 2500), count: 10))
            #expect(try await fixture.balance(user.id) == 2500)
            #expect(try await fixture.ledger(user.id).count == 1)
        }
    }

    @Test("50 concurrent debits for one reservation: one debit, one ledger row, one payment, the same receipt for all")
    func sameReservationDebits() async throws {
        try await withPool { fixture in
            let user = try await fixture.user(balance: 100_000)
            let cashier = fixture.cashier
            let receipts = try await withThrowingTaskGroup(of: PaymentReceipt.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 30_000)) }
                }
                return try await group.reduce(into: [PaymentReceipt]()) { $0.append($1) }
            }
            #expect(Set(receipts.map(\.paymentId)).count == 1)
            #expect(receipts.allSatisfy { $0 == receipts[0] })
            #expect(try await fixture.balance(user.id) == 70_000)
            #expect(try await fixture.ledger(user.id).filter { $0.kind == .payment }.count == 1)
            #expect(try await fixture.writer.read { try Payment.fetchCount($0) } == 1)
            #expect(fixture.events.types == [PaymentAPI.Event.completed])
        }
    }

    @Test("30 concurrent debits for different reservations never take the balance below zero")
    func competingDebits() async throws {
        try await withPool { fixture in
            let user = try await fixture.user(balance: 10_000)
            let cashier = fixture.cashier
            let codes = await withTaskGroup(of: String.self) { group in
                for index in 0..<30 {
                    group.addTask {
                        do {
                            _ = try await cashier.debit(Debit(userId: user.id, reservationId: "res-\(index)", amount: 1000))
                            return "paid"
                        } catch let error as RemoteError {
                            return error.code
                        } catch {
                            return "\(error)"
                        }
                    }
                }
                return await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(codes.filter { $0 == "paid" }.count == 10)
            #expect(codes.filter { $0 == "insufficient_balance" }.count == 20)
            #expect(try await fixture.balance(user.id) == 0)
            try await fixture.expectLedgerBalances()
        }
    }

    @Test("20 concurrent refunds of one payment refund it once")
    func sameReservationRefunds() async throws {
        try await withPool { fixture in
            let user = try await fixture.user(balance: 5000)
            _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 5000))
            let cashier = fixture.cashier
            let receipts = try await withThrowingTaskGroup(of: RefundReceipt.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await cashier.refund(Refund(reservationId: "res-1")) }
                }
                return try await group.reduce(into: [RefundReceipt]()) { $0.append($1) }
            }
            #expect(receipts.allSatisfy { $0 == receipts[0] && $0.balance == 5000 })
            #expect(try await fixture.balance(user.id) == 5000)
            #expect(try await fixture.ledger(user.id).filter { $0.kind == .refund }.count == 1)
            #expect(fixture.events.types == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
        }
    }
}
