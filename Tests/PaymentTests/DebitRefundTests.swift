import Contracts
import Foundation
import GRDB
import ServiceKit
import Testing
@testable import PaymentService

@Suite("Debits and refunds for reservations")
struct DebitRefundTests {
    @Test("a debit takes the amount, records the payment and its ledger row, and publishes payment.completed")
    func debitPays() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        fixture.clock.advance(by: 5)
        let receipt = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        #expect(receipt.userId == user.id && receipt.reservationId == "res-1" && receipt.amount == 4000)
        #expect(receipt.balance == 6000)
        #expect(receipt.paidAt == fixture.clock.now())
        #expect(receipt.refundedAt == nil)
        #expect(try await fixture.balance(user.id) == 6000)
        let row = try #require(try await fixture.ledger(user.id).last)
        #expect(row.kind == .payment && row.amount == 4000 && row.balanceAfter == 6000 && row.reservationId == "res-1")
        let payment = try #require(try await fixture.writer.read { try Payment.fetchOne($0, key: receipt.paymentId) })
        #expect(payment.userId == user.id && payment.reservationId == "res-1" && payment.amount == 4000 && payment.refundedAt == nil)
        #expect(fixture.events.types == [PaymentAPI.Event.completed])
        #expect(fixture.events.all.first?.event == PaymentEvent(paymentId: receipt.paymentId, userId: user.id, reservationId: "res-1", amount: 4000))
        #expect(try await fixture.cashier.payment(PaymentRef(reservationId: "res-1")) == receipt)
    }

    @Test("a reservation is debited at most once: a repeat with the same user and amount answers the original receipt")
    func debitOnce() async throws {
        let fixture = try PaymentFixture(clock: ManualClock(Date(timeIntervalSince1970: 1_800_000_000.75)))
        let user = try await fixture.user(balance: 10_000)
        let first = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 50, idempotencyKey: "later"))
        fixture.clock.advance(by: 90)
        let again = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        #expect(again == first)
        #expect(try await fixture.balance(user.id) == 6050)
        #expect(try await fixture.ledger(user.id).filter { $0.kind == .payment }.count == 1)
        #expect(fixture.events.types == [PaymentAPI.Event.completed])
    }

    @Test("a repeat debit with another amount or another user is idempotency_key_reused and changes nothing")
    func debitReused() async throws {
        let fixture = try PaymentFixture()
        let alice = try await fixture.user("alice", balance: 10_000)
        let bob = try await fixture.user("bob", balance: 10_000)
        _ = try await fixture.cashier.debit(Debit(userId: alice.id, reservationId: "res-1", amount: 4000))
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: alice.id, reservationId: "res-1", amount: 3999)) }?.code == "idempotency_key_reused")
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: bob.id, reservationId: "res-1", amount: 4000)) }?.code == "idempotency_key_reused")
        #expect(try await fixture.balance(alice.id) == 6000)
        #expect(try await fixture.balance(bob.id) == 10_000)
        #expect(try await fixture.writer.read { try Payment.fetchCount($0) } == 1)
    }

    @Test("insufficient balance is refused with the shortfall in the message and changes nothing; after a top-up it pays")
    func insufficientBalance() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 3000)
        let error = try #require(await refusal { try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 5000)) })
        #expect(error.code == "insufficient_balance")
        #expect(error.message.contains("2000"))
        #expect(try await fixture.balance(user.id) == 3000)
        #expect(try await fixture.ledger(user.id).count == 1)
        #expect(try await fixture.writer.read { try Payment.fetchCount($0) } == 0)
        #expect(fixture.events.all.isEmpty)
        #expect(await refusal { try await fixture.cashier.payment(PaymentRef(reservationId: "res-1")) }?.code == "not_found")

        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 2000, idempotencyKey: "top-up"))
        #expect(try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 5000)).balance == 0)
        try await fixture.expectLedgerBalances()
    }

    @Test("a debit of exactly the balance leaves zero")
    func debitWholeBalance() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 777)
        #expect(try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r", amount: 777)).balance == 0)
    }

    @Test("debit amounts must be whole numbers from 1 to 1,000,000,000,000", arguments: [Int64(0), -5, PaymentAPI.maxBalance + 1, .max, .min])
    func debitAmounts(amount: Int64) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 100)
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r", amount: amount)) }?.code == "invalid_amount")
        #expect(try await fixture.balance(user.id) == 100)
    }

    @Test("a reservation id must be 1 to 255 characters, none a control character (a leading NUL would fail the table's CHECK)",
          arguments: ["", String(repeating: "r", count: 256), "\u{0}", "\u{0}42", "4\u{1F}2"])
    func reservationIdLength(reservationId: String) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 100)
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: user.id, reservationId: reservationId, amount: 1)) }?.code == "invalid_request")
        #expect(await refusal { try await fixture.cashier.refund(Refund(reservationId: reservationId)) }?.code == "invalid_request")
        #expect(await refusal { try await fixture.cashier.payment(PaymentRef(reservationId: reservationId)) }?.code == "invalid_request")
        #expect(await refusal { try await fixture.cashier.void(Refund(reservationId: reservationId)) }?.code == "invalid_request")
        #expect(try await fixture.balance(user.id) == 100)
    }

    @Test("debiting an unknown user is not_found")
    func debitUnknownUser() async throws {
        let fixture = try PaymentFixture()
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: 12, reservationId: "r", amount: 1)) }?.code == "not_found")
    }

    @Test("a refund gives the payment back once, records it in the ledger and publishes payment.refunded")
    func refundOnce() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        let paid = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        fixture.clock.advance(by: 30)
        let refund = try await fixture.cashier.refund(Refund(reservationId: "res-1"))
        #expect(refund == RefundReceipt(paymentId: paid.paymentId, userId: user.id, reservationId: "res-1", amount: 4000,
                                        refunded: true, balance: 10_000, refundedAt: fixture.clock.now()))
        _ = try await fixture.cashier.charge(Charge(userId: user.id, amount: 1, idempotencyKey: "after"))
        fixture.clock.advance(by: 30)
        #expect(try await fixture.cashier.refund(Refund(reservationId: "res-1")) == refund)
        #expect(try await fixture.balance(user.id) == 10_001)
        #expect(try await fixture.ledger(user.id).map(\.kind) == [.charge, .payment, .refund, .charge])
        #expect(fixture.events.types == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
        #expect(fixture.events.all.last?.event == PaymentEvent(paymentId: paid.paymentId, userId: user.id, reservationId: "res-1", amount: 4000))
        let receipt = try await fixture.cashier.payment(PaymentRef(reservationId: "res-1"))
        #expect(receipt.refundedAt == refund.refundedAt)
        #expect(receipt.balance == paid.balance)
        try await fixture.expectLedgerBalances()
    }

    @Test("a refunded reservation is never debited again: a repeat debit answers the original, refunded receipt")
    func noDebitAfterRefund() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        let refund = try await fixture.cashier.refund(Refund(reservationId: "res-1"))
        let again = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        #expect(again.refundedAt == refund.refundedAt)
        #expect(try await fixture.balance(user.id) == 10_000)
        #expect(fixture.events.types == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
    }

    @Test("refunding a reservation that has no payment is not_found")
    func refundWithoutPayment() async throws {
        let fixture = try PaymentFixture()
        #expect(await refusal { try await fixture.cashier.refund(Refund(reservationId: "nothing")) }?.code == "not_found")
    }

    @Test("a refund may take a balance past the charge cap: it only returns money that was there")
    func refundPastCap() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 5000)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r", amount: 5000))
        try await fixture.writer.write { db in
            try db.execute(sql: "UPDATE wallet SET amount = ? WHERE user_id = ?", arguments: [PaymentAPI.maxBalance, user.id])
        }
        #expect(try await fixture.cashier.refund(Refund(reservationId: "r")).balance == PaymentAPI.maxBalance + 5000)
    }

    @Test("the schema refuses what the money rules forbid, whatever the code above it does", arguments: [
        "UPDATE wallet SET amount = -1 WHERE user_id = ?1",
        "UPDATE wallet SET amount = 5.5 WHERE user_id = ?1",
        "INSERT INTO wallet (user_id, amount, created_at, updated_at) VALUES (?1, 0, '2027-01-01', '2027-01-01')",
        "INSERT INTO payment (user_id, reservation_id, amount, created_at, updated_at) VALUES (?1, 'r', 5, '2027-01-01', '2027-01-01')",
        "INSERT INTO payment (user_id, reservation_id, amount, created_at, updated_at) VALUES (?1, 'r2', 0, '2027-01-01', '2027-01-01')",
        "INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, created_at) VALUES (?1, 'gift', 5, 5, '2027-01-01')",
        "INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, created_at) VALUES (?1, 'charge', 0, 5, '2027-01-01')",
        "INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, created_at) VALUES (?1, 'charge', 5, -5, '2027-01-01')",
        "INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, created_at) VALUES (?1, 'payment', 5, 0, '2027-01-01')",
        "INSERT INTO wallet_transaction (user_id, kind, amount, balance_after, reservation_id, created_at) VALUES (?1, 'payment', 5, 0, 'r', '2027-01-01')",
    ])
    func schemaChecks(sql: String) async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "r", amount: 5))
        await #expect(throws: DatabaseError.self) {
            try await fixture.writer.write { try $0.execute(sql: sql, arguments: [user.id]) }
        }
    }

    @Test("void of a paid reservation refunds it once, publishes payment.refunded once, and bars any later debit")
    func voidRefundsAndBars() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        let voided = try await fixture.cashier.void(Refund(reservationId: "res-1"))
        #expect(voided == VoidReceipt(reservationId: "res-1", refunded: true, amount: 4000, balance: 10_000))
        #expect(try await fixture.cashier.void(Refund(reservationId: "res-1")) == voided)
        #expect(try await fixture.balance(user.id) == 10_000)
        #expect(try await fixture.ledger(user.id).map(\.kind) == [.charge, .payment, .refund])
        #expect(fixture.events.types == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
        // The original debit sent again answers its receipt (now refunded) and takes nothing.
        let again = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-1", amount: 4000))
        #expect(again.refundedAt != nil)
        #expect(try await fixture.balance(user.id) == 10_000)
    }

    @Test("void of a reservation never debited refunds nothing and refuses every later debit with payment_voided")
    func voidBeforeDebit() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        let voided = try await fixture.cashier.void(Refund(reservationId: "res-9"))
        #expect(voided == VoidReceipt(reservationId: "res-9", refunded: false, amount: 0, balance: nil))
        #expect(try await fixture.cashier.void(Refund(reservationId: "res-9")) == voided)
        // A resent copy of a debit arriving after the saga gave up on it can no longer take money.
        #expect(await refusal { try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-9", amount: 4000)) }?.code == "payment_voided")
        #expect(try await fixture.balance(user.id) == 10_000)
        #expect(fixture.events.types.isEmpty)
    }

    @Test("void after a plain refund gives nothing back twice and publishes nothing more")
    func voidAfterRefund() async throws {
        let fixture = try PaymentFixture()
        let user = try await fixture.user(balance: 10_000)
        _ = try await fixture.cashier.debit(Debit(userId: user.id, reservationId: "res-2", amount: 3000))
        _ = try await fixture.cashier.refund(Refund(reservationId: "res-2"))
        let voided = try await fixture.cashier.void(Refund(reservationId: "res-2"))
        #expect(voided.refunded && voided.amount == 3000 && voided.balance == 10_000)
        #expect(try await fixture.balance(user.id) == 10_000)
        #expect(fixture.events.types == [PaymentAPI.Event.completed, PaymentAPI.Event.refunded])
    }
}
