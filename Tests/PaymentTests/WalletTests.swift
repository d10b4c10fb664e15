import Contracts
import Foundation
import GRDB
import ServiceKit
import Testing
@testable import PaymentService

@Suite("Wallet: balance, charges and the ledger")
struct WalletTests {
    @Test("a charge adds to the balance and writes one ledger row with the balance after it")
    func chargeAddsAndRecords() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 5000, idempotencyKey: "k1")) == Balance(balance: 5000))
        fixture.clock.advance(by: 60)
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 700, idempotencyKey: "k2")) == Balance(balance: 5700))
        #expect(try await fixture.balance(user.id) == 5700)
        let rows = try await fixture.ledger(user.id)
        #expect(rows.map(\.kind) == [.charge, .charge])
        #expect(rows.map(\.amount) == [5000, 700])
        #expect(rows.map(\.balanceAfter) == [5000, 5700])
        #expect(rows.map(\.idempotencyKey) == ["k1", "k2"])
        #expect(rows.map(\.reservationId) == [nil, nil])
        #expect(rows[1].createdAt == fixture.clock.now())
        try await fixture.expectLedgerBalances()
    }

    @Test("amounts from 1 to 10,000,000 are accepted", arguments: [Int64(1), 999, 10_000_000])
    func acceptedAmounts(amount: Int64) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: amount, idempotencyKey: "k")).balance == amount)
    }

    @Test("zero, negative and over-limit amounts are invalid_amount and change nothing",
          arguments: [Int64(0), -1, -10_000, 10_000_001, .max, .min])
    func refusedAmounts(amount: Int64) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 100)
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: amount, idempotencyKey: "k")) }?.code == "invalid_amount")
        #expect(try await fixture.balance(user.id) == 100)
        #expect(try await fixture.ledger(user.id).count == 1)
        // Nothing was stored under the key, so it can be used once the amount is fixed.
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 1, idempotencyKey: "k")).balance == 101)
    }

    @Test("a charge that would take the balance over 1,000,000,000,000 is invalid_amount; up to it is fine")
    func balanceCap() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        // Reach just under the cap without 100,000 charges: the cap is what is tested here.
        try await fixture.writer.write { db in
            try db.execute(sql: "UPDATE wallet SET amount = ? WHERE user_id = ?", arguments: [PaymentAPI.maxBalance - 10, user.id])
        }
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: 11, idempotencyKey: "over")) }?.code == "invalid_amount")
        #expect(try await fixture.balance(user.id) == PaymentAPI.maxBalance - 10)
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: "to")).balance == PaymentAPI.maxBalance)
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: 1, idempotencyKey: "one")) }?.code == "invalid_amount")
    }

    @Test("a balance near Int64.max is refused rather than overflowed")
    func overflowRefused() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        try await fixture.writer.write { db in
            try db.execute(sql: "UPDATE wallet SET amount = ? WHERE user_id = ?", arguments: [Int64.max - 5, user.id])
        }
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: "k")) }?.code == "invalid_amount")
        #expect(try await fixture.balance(user.id) == Int64.max - 5)
    }

    @Test("the same key with the same amount answers the first balance again and charges nothing")
    func chargeReplay() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        let first = try await fixture.cashier.charge(Charge(userId: user.id, amount: 3000, idempotencyKey: "same"))
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 100, idempotencyKey: "other"))
        fixture.clock.advance(by: 3600)
        let again = try await fixture.cashier.charge(Charge(userId: user.id, amount: 3000, idempotencyKey: "same"))
        #expect(again == first)
        #expect(again.balance == 3000)
        #expect(try await fixture.balance(user.id) == 3100)
        #expect(try await fixture.ledger(user.id).count == 2)
    }

    @Test("the same key with a different amount is idempotency_key_reused and changes nothing")
    func chargeKeyReused() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 3000, idempotencyKey: "same"))
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: 3001, idempotencyKey: "same")) }?.code == "idempotency_key_reused")
        #expect(try await fixture.balance(user.id) == 3000)
        #expect(try await fixture.ledger(user.id).count == 1)
    }

    @Test("idempotency keys are scoped to the user: two users may use the same key")
    func keysScopedToUser() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.user("alice")
        let bob = try await fixture.user("bob")
        #expect(try await fixture.cashier.charge(Charge(userId: alice.id, amount: 10, idempotencyKey: "k")).balance == 10)
        #expect(try await fixture.cashier.charge(Charge(userId: bob.id, amount: 20, idempotencyKey: "k")).balance == 20)
    }

    @Test("an idempotency key must be 1 to 255 characters", arguments: ["", String(repeating: "k", count: 256), String(repeating: "키", count: 256)])
    func keyLength(key: String) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: key)) }?.code == "invalid_request")
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: String(repeating: "키", count: 255))).balance == 10)
    }

    @Test("charging an unknown user is not_found")
    func chargeUnknownUser() async throws {
        let fixture = try PaymentFixture()
        #expect(await refusal { try await fixture.cashier.charge(Charge(userId: 42, amount: 10, idempotencyKey: "k")) }?.code == "not_found")
    }

    @Test("a used key is kept at least 24 hours and forgotten once purged after that")
    func keyRetention() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        let purge = IdempotencyPurgeLoop(writer: fixture.writer, clock: fixture.clock, logger: .init(label: "test"))
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: "k"))
        fixture.clock.advance(by: 24 * 3600 - 1)
        #expect(try await purge.purgeOnce() == 0)
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: "k")).balance == 10)
        fixture.clock.advance(by: 2)
        #expect(try await purge.purgeOnce() == 1)
        #expect(try await fixture.cashier.charge(Charge(userId: user.id, amount: 10, idempotencyKey: "k")).balance == 20)
        try await fixture.expectLedgerBalances()
    }

    @Test("the ledger lists every movement newest first, with kinds, amounts, balances after and reservation ids")
    func ledgerNewestFirst() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 10_000, idempotencyKey: "c1"))
        fixture.clock.advance(by: 1)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r1", amount: 4000))
        fixture.clock.advance(by: 1)
        _ = try await fixture.cashier.refund(Refund(reservationId: "r1"))
        let entries = try await fixture.cashier.transactions(TransactionsQuery(userId: user.id))
        #expect(entries.map(\.kind) == ["refund", "payment", "charge"])
        #expect(entries.map(\.amount) == [4000, 4000, 10_000])
        #expect(entries.map(\.balanceAfter) == [10_000, 6000, 10_000])
        #expect(entries.map(\.reservationId) == ["r1", "r1", nil])
        #expect(entries[0].createdAt == fixture.clock.now())
        #expect(entries.map(\.id) == entries.map(\.id).sorted(by: >))
    }

    @Test("the ledger pages with limit and before, and shows only the user's own rows")
    func ledgerPaging() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.user("alice")
        let bob = try await fixture.user("bob", balance: 5)
        for index in 1...7 {
            _ = try await fixture.cashier.charge(Charge(userId: alice.id, amount: Int64(index), idempotencyKey: "k\(index)"))
        }
        let first = try await fixture.cashier.transactions(TransactionsQuery(userId: alice.id, limit: 3))
        #expect(first.map(\.amount) == [7, 6, 5])
        let next = try await fixture.cashier.transactions(TransactionsQuery(userId: alice.id, limit: 3, before: first.last?.id))
        #expect(next.map(\.amount) == [4, 3, 2])
        #expect(try await fixture.cashier.transactions(TransactionsQuery(userId: alice.id)).count == 7)
        #expect(try await fixture.cashier.transactions(TransactionsQuery(userId: bob.id)).map(\.amount) == [5])
        let empty = try await fixture.user("carol")
        #expect(try await fixture.cashier.transactions(TransactionsQuery(userId: empty.id)) == [])
    }

    @Test("a ledger limit outside 1...1000 is invalid_request", arguments: [0, -1, 1001, Int.max])
    func ledgerLimit(limit: Int) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user()
        #expect(await refusal { try await fixture.cashier.transactions(TransactionsQuery(userId: user.id, limit: limit)) }?.code == "invalid_request")
    }

    @Test("charges minus payments plus refunds equal the balance after any mix of movements")
    func moneyIsConserved() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.user("alice")
        let bob = try await fixture.user("bob")
        // A fixed, scrambled mix (multiplying by primes), so a failure repeats: charges, debits that
        // sometimes find too little money or a reservation already paid, refunds of paid and unpaid ones.
        for step in 0..<200 {
            let user = step.isMultiple(of: 2) ? alice : bob
            let amount = Int64(step * 7919 % 5000 + 1)
            switch step * 31 % 4 {
            case 0:
                _ = try? await fixture.cashier.charge(Charge(userId: user.id, amount: amount, idempotencyKey: "k\(step % 150)"))
            case 1, 2:
                _ = try? await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r\(step % 120)", amount: amount / 2 + 1))
            default:
                _ = try? await fixture.cashier.refund(Refund(reservationId: "r\(step * 37 % 120)"))
            }
        }
        try await fixture.expectLedgerBalances()
        let sums = try await fixture.writer.read { db in
            try Row.fetchAll(db, sql: """
                SELECT w.user_id, w.amount,
                       (SELECT coalesce(sum(CASE kind WHEN 'payment' THEN -amount ELSE amount END), 0)
                          FROM wallet_transaction t WHERE t.user_id = w.user_id) AS ledger
                FROM wallet w
                """).map { row in (balance: row["amount"] as Int64, ledger: row["ledger"] as Int64) }
        }
        #expect(sums.count == 2)
        for sum in sums { #expect(sum.balance == sum.ledger) }
    }
}
