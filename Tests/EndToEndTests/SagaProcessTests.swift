import Contracts
import Foundation
import Messaging
import Testing
import TestSupport

/// The saga across the four real backend processes, talking over ZeroMQ as `make run` starts them.
@Suite("The saga across real processes", .serialized, .timeLimit(.minutes(2)))
struct SagaProcessTests {
    @Test("reservation killed with SIGKILL while its payment waits on a frozen payment service: restarted, it finishes the saga")
    func killedMidPayment() async throws {
        try await withStack(extra: ["HOLD_SECONDS": "60"], start: TestStack.backends) { stack in
            let logger = ServedHandlers.logger
            var clients: [String: RPCClient] = [:]
            for service in TestStack.backends {
                clients[service] = try RPCClient(endpoint: try #require(stack.environment["\(service.uppercased())_RPC"]), logger: logger)
            }
            let (queue, concert, payment, reservation) = (clients["queue"]!, clients["concert"]!, clients["payment"]!, clients["reservation"]!)
            let up = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                (try? await reservation.call(ServiceName.reservation.ping, Empty(), timeout: .milliseconds(500))) != nil
            }
            try #require(up, "reservation never answered:\n\(stack.logs)")

            // A fan with money and a token, and a seat of the demo catalog.
            let user = try await payment.call(PaymentAPI.createUser, CreateUser(name: "fan"))
            _ = try await payment.call(PaymentAPI.charge, Charge(userId: user.id, amount: 500_000, idempotencyKey: "top-up"))
            let token = try await queue.call(QueueAPI.issue, IssueToken(userId: user.id)).view.token
            let concertId = try #require(try await concert.call(ConcertAPI.listConcerts, Empty()).first?.id)
            let scheduleId = try #require(try await concert.call(ConcertAPI.schedules, ConcertRef(concertId: concertId)).first?.id)
            let seat = try #require(try await concert.call(ConcertAPI.seats, ScheduleRef(scheduleId: scheduleId)).seats?.first { $0.status == .available })
            let held = try await reservation.call(ReservationAPI.reserve, Reserve(userId: user.id, seatId: seat.id)).reservation

            // Payment freezes; the payment request cannot finish and is answered "unknown, ask again".
            let paymentProcess = try #require(stack.process("payment"))
            paymentProcess.signal(SIGSTOP)
            let pay = Pay(userId: user.id, reservationId: held.id, idempotencyKey: "pay-1")
            do {
                _ = try await reservation.call(ReservationAPI.pay, pay, timeout: .seconds(5))
                Issue.record("the payment answered while the payment service was frozen")
            } catch let error as RemoteError {
                #expect(error.code == ReservationAPI.Code.serviceUnavailable)
            }
            // The reservation service dies mid-saga; payment wakes; a new reservation process resumes.
            let killed = try #require(stack.process("reservation"))
            killed.kill()
            paymentProcess.signal(SIGCONT)
            try stack.start(["reservation"])

            let reserved = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                (try? await reservation.call(ReservationAPI.get, ReservationRef(userId: user.id, reservationId: held.id)))?.status == .reserved
            }
            #expect(reserved, "the saga never finished:\n\(stack.logs)")
            let answer = try await reservation.call(ReservationAPI.pay, pay)
            #expect(answer.amount == Int64(seat.price) && answer.balance == 500_000 - Int64(seat.price))
            let receipt = try await payment.call(PaymentAPI.payment, PaymentRef(reservationId: "\(held.id)"))
            #expect(receipt.paymentId == answer.id && receipt.refundedAt == nil)
            #expect(try await concert.call(ConcertAPI.seat, SeatRef(seatId: seat.id)).status == .sold)
            let expired = await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
                (try? await queue.call(QueueAPI.status, TokenQuery(userId: user.id, token: token)))?.status == .expired
            }
            #expect(expired, "the payer's token is still live")

            // At rest, the files agree with each other (CONTRACT §4).
            for client in clients.values { await client.close() }
            await stack.stopAll()
            let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
            #expect(violations.isEmpty, "\(violations)")
        }
    }
}
