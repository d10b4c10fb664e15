import Foundation
import Synchronization
import TestSupport

/// One person at the box office, as the chaos run plays them: signs up, tops up, waits in line,
/// holds a seat, then pays, pays and cancels, cancels, walks away, or comes back too late. Like a
/// real client it asks again under the same `Idempotency-Key` after no answer, a 503 or
/// `request_in_progress`; what it is finally told goes into `Acknowledgements`.
struct VirtualUser: Sendable {
    let index: Int
    let client: ChaosClient
    let acks: Acknowledgements
    let seats: [Int]
    let schedules: [Int]
    let settings: ChaosSettings
    let load: LoadSwitch
    var random: SeededGenerator

    private var apiKey: String?
    private var userId: Int?
    private var token: String?
    private var balance = 0
    /// Keyed requests whose outcome is not known yet, oldest first; asked again once the stack settles.
    private var pending: [Pending] = []
    /// While settling: ask again until this instant, even though the load has stopped.
    private var settleDeadline: ContinuousClock.Instant?

    private enum Pending: Sendable {
        case charge(key: String, amount: Int)
        case pay(reservation: Int, price: Int)
        case cancel(reservation: Int, paid: Bool, price: Int)
    }

    static let topUp = 1_000_000

    init(index: Int, client: ChaosClient, acks: Acknowledgements, seats: [Int], schedules: [Int],
         settings: ChaosSettings, load: LoadSwitch) {
        self.index = index
        self.client = client
        self.acks = acks
        self.seats = seats
        self.schedules = schedules
        self.settings = settings
        self.load = load
        random = SeededGenerator(seed: settings.seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Books until the load is switched off.
    mutating func run() async {
        while load.isOn {
            await pause(milliseconds: Int.random(in: 0...80, using: &random))
            guard let apiKey, let userId else { await signUp(); continue }
            if balance < 200_000, await !topUp(user: userId, apiKey: apiKey) { continue }
            guard await admitted(apiKey: apiKey) else { continue }
            if Int.random(in: 0..<5, using: &random) == 0, let schedule = schedules.randomElement(using: &random) {
                _ = await client.send("seat map", .GET, "/api/v1/schedules/\(schedule)/seats", apiKey: apiKey, token: token)
            }
            guard let hold = await hold(user: userId, apiKey: apiKey) else { continue }
            let fate = Int.random(in: 0..<100, using: &random)
            switch fate {
            case ..<50:
                _ = await pay(hold, user: userId, apiKey: apiKey)
            case ..<65:
                if await pay(hold, user: userId, apiKey: apiKey) {
                    await cancel(hold.id, paid: true, price: hold.price, apiKey: apiKey)
                }
            case ..<77:
                await cancel(hold.id, paid: false, price: hold.price, apiKey: apiKey)
            case ..<89:
                acks.lapsed(reservation: hold.id)  // walks away: the hold must lapse and be canceled
            default:
                // Comes back after the hold has lapsed: must be told `reservation_expired`, charged nothing.
                let late = hold.expiresAt.timeIntervalSinceNow + 0.5
                await pause(milliseconds: Int(max(0, late) * 1000))
                _ = await pay(hold, user: userId, apiKey: apiKey, late: true)
            }
        }
    }

    /// Once the stack has settled: asks again, under the same keys, every request whose outcome the
    /// run left unknown, until `deadline`; what is still unknown then is reported.
    mutating func settle(until deadline: ContinuousClock.Instant) async {
        settleDeadline = deadline
        guard let apiKey, let userId else { return }
        let left = pending
        pending = []
        for request in left {
            switch request {
            case .charge(let key, let amount):
                _ = await charge(key: key, amount: amount, user: userId, apiKey: apiKey)
            case .pay(let reservation, let price):
                _ = await pay(Hold(id: reservation, price: price, expiresAt: .distantFuture), user: userId, apiKey: apiKey)
            case .cancel(let reservation, let paid, let price):
                await cancel(reservation, paid: paid, price: price, apiKey: apiKey)
            }
        }
        for request in pending {
            acks.unresolved("user \(userId): \(request) still unanswered when the stack had settled")
        }
    }

    // MARK: - Steps

    private mutating func signUp() async {
        let reply = await client.send("sign up", .POST, "/api/v1/users", json: #"{"name": "chaos \#(index)"}"#)
        if reply.status == 201, let key = reply["apiKey"] as? String, let id = reply["id"] as? Int {
            apiKey = key
            userId = id
        }
    }

    private mutating func topUp(user: Int, apiKey: String) async -> Bool {
        await charge(key: "top-up-\(index)-\(UUID().uuidString)", amount: Self.topUp, user: user, apiKey: apiKey)
    }

    private mutating func charge(key: String, amount: Int, user: Int, apiKey: String) async -> Bool {
        let client = client
        guard let reply = await definite({
            await client.send("charge", .POST, "/api/v1/wallet/charges", apiKey: apiKey, idempotencyKey: key, json: #"{"amount": \#(amount)}"#)
        }) else {
            pending.append(.charge(key: key, amount: amount))
            return false
        }
        guard reply.status == 200, let balance = reply["balance"] as? Int else {
            judge(reply, "charge \(key)")
            return false
        }
        acks.charged(user: user, amount: amount)
        self.balance = balance
        return true
    }

    /// Takes a place in line (or finds the live one) and waits, at most 10 s, to be let in.
    private mutating func admitted(apiKey: String) async -> Bool {
        if token == nil {
            let issued = await client.send("token", .POST, "/api/v1/queue/tokens", apiKey: apiKey)
            judge(issued, "token")
            guard let fresh = issued["token"] as? String else { return false }
            if issued["status"] as? String == "active" {
                token = fresh
                return true
            }
            token = fresh
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline, load.isOn {
            let status = await client.send("token status", .GET, "/api/v1/queue/tokens/current", apiKey: apiKey, token: token)
            judge(status, "token status")
            switch (status["status"] as? String, status.code) {
            case ("active", _): return true
            case ("expired", _), (_, "queue_token_inactive"):
                token = nil
                return false
            default:
                await pause(milliseconds: 150)
            }
        }
        return false
    }

    struct Hold {
        let id: Int
        let price: Int
        let expiresAt: Date
    }

    private mutating func hold(user: Int, apiKey: String) async -> Hold? {
        guard let seat = seats.randomElement(using: &random) else { return nil }
        let reply = await client.send("reserve", .POST, "/api/v1/reservations", apiKey: apiKey, token: token, json: #"{"seatId": \#(seat)}"#)
        judge(reply, "reserve seat \(seat)")
        if reply.code?.hasPrefix("queue_token") == true { token = nil }
        guard reply.status == 201, let id = reply["id"] as? Int, let price = reply["price"] as? Int,
              let expiry = (reply["expiresAt"] as? String).flatMap(Self.parseTime) else { return nil }
        acks.held(reservation: id, by: user)
        return Hold(id: id, price: price, expiresAt: expiry)
    }

    /// Pays under one key, topping up once after a 402. Answers whether the payment was acknowledged.
    private mutating func pay(_ hold: Hold, user: Int, apiKey: String, late: Bool = false) async -> Bool {
        let client = client
        let key = "pay-\(hold.id)"
        let what = late ? "pay late" : "pay"
        let ask = { await client.send(what, .POST, "/api/v1/reservations/\(hold.id)/payment", apiKey: apiKey, idempotencyKey: key) }
        let sentAt = Date()
        guard var reply = await definite(ask) else {
            pending.append(.pay(reservation: hold.id, price: hold.price))
            return false
        }
        if reply.code == "insufficient_balance", await topUp(user: user, apiKey: apiKey) {
            guard let again = await definite(ask) else {
                pending.append(.pay(reservation: hold.id, price: hold.price))
                return false
            }
            reply = again
        }
        judge(reply, "pay reservation \(hold.id)")
        if reply.code == "reservation_expired" { acks.lapsed(reservation: hold.id) }
        guard reply.status == 201, let paymentId = reply["id"] as? Int, let amount = reply["amount"] as? Int else { return false }
        if late, hold.expiresAt < sentAt.addingTimeInterval(-0.4) {
            acks.wrongAnswer("reservation \(hold.id): paid (201) although its hold had lapsed before the request was sent")
        }
        acks.paid(.init(userId: user, reservationId: hold.id, paymentId: paymentId, amount: amount))
        if let balance = reply["balance"] as? Int { self.balance = balance }
        token = nil  // a payment expires the payer's token (CONTRACT §3)
        return true
    }

    /// Cancels, asking again while the outcome is unknown or a payment is still in progress.
    private mutating func cancel(_ id: Int, paid: Bool, price: Int, apiKey: String) async {
        let client = client
        guard let reply = await definite({
            await client.send("cancel", .DELETE, "/api/v1/reservations/\(id)", apiKey: apiKey)
        }, alsoRetrying: "reservation_not_cancelable") else {
            pending.append(.cancel(reservation: id, paid: paid, price: price))
            return
        }
        judge(reply, "cancel reservation \(id)")
        guard reply.status == 200, reply["status"] as? String == "canceled" else { return }
        acks.canceled(reservation: id)
        if paid { balance += price }
    }

    // MARK: - Helpers

    /// Asks until the answer is definite: again, with backoff, after no answer, a 503 or
    /// `request_in_progress`. Gives up (nil) when the load stops, or, while settling, at the deadline.
    private func definite(_ ask: () async -> ChaosClient.Reply, alsoRetrying retryCode: String? = nil) async -> ChaosClient.Reply? {
        var delay = 200
        while true {
            let reply = await ask()
            let unknown = reply.isUnknown || reply.code == "request_in_progress" || (retryCode != nil && reply.code == retryCode)
            if !unknown { return reply }
            if let settleDeadline {
                if ContinuousClock.now >= settleDeadline { return nil }
            } else if !load.isOn {
                return nil
            }
            await pause(milliseconds: delay)
            delay = min(delay * 2, 1000)
        }
    }

    /// Notes an answer no correct stack gives this user: 401 for its own valid key, 404 for its own reservation.
    private func judge(_ reply: ChaosClient.Reply, _ what: String) {
        guard let status = reply.status, status == 401 || status == 404 else { return }
        acks.wrongAnswer("user \(userId ?? 0), \(what): \(status) \(reply.code ?? "")")
    }

    private func pause(milliseconds: Int) async {
        try? await Task.sleep(for: .milliseconds(milliseconds))
    }

    private static func parseTime(_ text: String) -> Date? {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return (try? withFraction.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

/// Whether the load is on; the users check it between steps.
final class LoadSwitch: Sendable {
    private let on = Atomic<Bool>(true)
    var isOn: Bool { on.load(ordering: .relaxed) }
    func switchOff() { on.store(false, ordering: .relaxed) }
}
