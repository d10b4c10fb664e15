import Foundation
import Testing
import TestSupport

extension UnderLoadTests.DeploymentTests {
    @Suite("Stateless gateways: any number over one set of services", .serialized, .timeLimit(.minutes(3)))
    struct StatelessGatewayTests {
        @Test("a fan signs up on one gateway and goes on through another; replays through the other answer the same and charge once; one gateway killed, the other serves on")
        func twoGateways() async throws {
            try await Self.withTwoGateways { stack, other in

                var viaA = try await Fan.signUp(stack, name: "둘")
                var viaB = viaA
                viaB.port = other
                // The key works on both: sessions live in the payment service.
                #expect(try await viaB.send("GET", "/api/v1/users/me")["name"] as? String == "둘")

                // A place in line taken on A is seen, and let in, on B.
                let issued = try await viaA.send("POST", "/api/v1/queue/tokens")
                let token = try #require(issued["token"] as? String, "\(issued.body)")
                viaA.token = token
                viaB.token = token
                let fan = viaB
                #expect(await eventually(timeout: .seconds(10)) {
                    (try? await fan.send("GET", "/api/v1/queue/tokens/current"))?["status"] as? String == "active"
                })

                // A top-up replayed through the other gateway: the first answer, charged once.
                let charged = try await viaA.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 200000}"#, key: "top-up")
                #expect(charged.status == 200, "\(charged.body)")
                let recharged = try await viaB.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 200000}"#, key: "top-up")
                #expect(recharged.status == charged.status && recharged.body == charged.body)

                // Hold on B, pay on A, replay the payment on B.
                let concerts = try await stack.send("GET", "/api/v1/concerts", port: other).json as? [[String: Any]]
                let concert = try #require(concerts?.first?["id"] as? Int)
                let schedules = try await viaB.send("GET", "/api/v1/concerts/\(concert)/schedules").json as? [[String: Any]]
                let schedule = try #require(schedules?.first?["id"] as? Int)
                let seats = try await viaB.send("GET", "/api/v1/schedules/\(schedule)/seats")
                let free = try #require((seats["seats"] as? [[String: Any]])?.first { $0["status"] as? String == "available" }?["id"] as? Int,
                                        "\(seats.body)")
                let held = try await viaB.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(free)}"#)
                let reservation = try #require(held["id"] as? Int, "\(held.body)")
                let price = try #require(held["price"] as? Int)
                let paid = try await viaA.send("POST", "/api/v1/reservations/\(reservation)/payment", key: "pay-once")
                #expect(paid.status == 201, "\(paid.body)")
                let replayed = try await viaB.send("POST", "/api/v1/reservations/\(reservation)/payment", key: "pay-once")
                #expect(replayed.status == 201 && replayed.body == paid.body, "\(replayed.body)")

                let ledger = try await viaB.send("GET", "/api/v1/wallet/transactions").json as? [[String: Any]] ?? []
                #expect(ledger.map { $0["kind"] as? String } == ["payment", "charge"])
                #expect(try await viaA.send("GET", "/api/v1/wallet")["balance"] as? Int == 200_000 - price)
                #expect(try await viaB.send("GET", "/api/v1/reservations/\(reservation)")["status"] as? String == "reserved")

                // The first gateway dies; the second goes on serving the same fan.
                stack.process("gateway")?.kill()
                #expect(try await viaB.send("GET", "/api/v1/wallet")["balance"] as? Int == 200_000 - price)
                #expect(try await viaB.send("POST", "/api/v1/reservations/\(reservation)/payment", key: "pay-once").body == paid.body)

                await stack.stopAll()
                let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }

        @Test("each gateway checks admitted tokens itself, from the queue's events: the queue is not asked; a fan who leaves the line through one gateway is refused by the other within a second; a frozen queue is not trusted")
        func tokensCheckedFromTheQueuesEvents() async throws {
            try await Self.withTwoGateways { stack, other in
                var viaA = try await Fan.signUp(stack, name: "하나")
                try await viaA.enter()
                var viaB = viaA
                viaB.port = other
                for _ in 0..<10 {
                    let seats = try await viaB.send("GET", "/api/v1/schedules/1/seats")
                    #expect(seats.status == 200, "\(seats.body)")
                }
                let metrics = try await stack.send("GET", "/metrics", port: other).body
                let fromView = Self.counter(metrics, #"gateway_queue_token_checks{service="gateway",answered_by="view",active="true"}"#)
                let asked = Self.counter(metrics, #"rpc_method="queue.validate""#)
                // At most the first check asks, should gateway B have joined the events after the admission.
                #expect(fromView >= 9 && asked <= 1, "answered by the view \(fromView), asked of the queue \(asked)")

                // Leaving through A: B hears of it from the queue's event, not from A.
                #expect(try await viaA.send("DELETE", "/api/v1/queue/tokens/current").status == 204)
                let left = ContinuousClock.now
                let refused = await eventually(timeout: .seconds(2), interval: .milliseconds(10)) {
                    (try? await viaB.send("GET", "/api/v1/schedules/1/seats"))?.code == "queue_token_inactive"
                }
                let took = ContinuousClock.now - left
                #expect(refused && took < .seconds(1), "the token that left still opened B's gate for \(took)")

                // A queue frozen mid-way cannot announce expiries: B stops trusting its view and asks,
                // which answers 503 within 3 s, never a pass from memory.
                var second = try await Fan.signUp(stack, name: "둘")
                try await second.enter()
                second.port = other
                #expect(try await second.send("GET", "/api/v1/schedules/1/seats").status == 200)
                let queue = try #require(stack.process("queue"))
                queue.signal(SIGSTOP)
                defer { queue.signal(SIGCONT) }
                try await Task.sleep(for: .seconds(1))
                let start = ContinuousClock.now
                let frozen = try await second.send("GET", "/api/v1/schedules/1/seats")
                #expect(frozen.status == 503 && ContinuousClock.now - start < .seconds(3), "\(frozen.status) \(frozen.body)")
                queue.signal(SIGCONT)
                #expect(await eventually(timeout: .seconds(5), interval: .milliseconds(100)) {
                    (try? await second.send("GET", "/api/v1/schedules/1/seats"))?.status == 200
                })
            }
        }

        /// A stack with a second gateway, `gateway-b` on the port handed over, both ready.
        static func withTwoGateways(_ body: (TestStack, Int) async throws -> Void) async throws {
            try await withStack(extra: ["QUEUE_ADMIT_PER_SECOND": "1000"]) { stack in
                let other = try stack.startGateway(named: "gateway-b")
                try #require(await stack.waitUntilReady(), "\(stack.logs)")
                try #require(await stack.waitUntilReady(port: other), "\(stack.logs)")
                try await body(stack, other)
            }
        }

        /// The sum of every Prometheus sample whose line contains `selector`.
        static func counter(_ metrics: String, _ selector: String) -> Double {
            metrics.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains(selector) }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0, +)
        }
    }
}
