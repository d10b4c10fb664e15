import Foundation
import Testing
import TestSupport

/// Traces, logs and metrics over the real five processes (docs/observability.md).
@Suite("Observability: one trace across five processes, logs that say why, metrics from every service", .serialized,
       .timeLimit(.minutes(3)))
struct ObservabilityTests {
    static let environment = ["QUEUE_ADMIT_PER_SECOND": "1000", "HOLD_SECONDS": "60", "LOG_FORMAT": "json", "LOG_LEVEL": "debug"]

    /// A fresh W3C trace context: version 00, a random trace id and parent id, sampled.
    static func newTraceparent() -> (header: String, traceID: String) {
        func hex(_ bytes: Int) -> String { (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }
        let traceID = hex(16)
        return ("00-\(traceID)-\(hex(8))-01", traceID)
    }

    /// A fan with money, let in, holding `seat`: its reservation's id.
    static func holdingFan(_ stack: TestStack, seat: Int) async throws -> (Fan, Int) {
        var fan = try await Fan.signUp(stack)
        _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "top-up")
        try await fan.enter()
        let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(seat)}"#)
        return (fan, try #require(held["id"] as? Int, "\(held.body)"))
    }

    /// Every line of a process's log read as JSON; a line that does not parse fails the test.
    static func jsonLines(_ stack: TestStack, _ name: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: stack.folder.file("\(name).log"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return try #require(object, "\(name): not a JSON object: \(line)")
        }
    }

    @Test("a booking sent with one traceparent: its trace id is in the logs of all five processes, first in the order the booking crosses them; the answer carries it; every JSON line parses")
    func oneTraceAcrossFiveProcesses() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            // Money first, outside the trace: the traced booking then reaches payment only at its debit.
            _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "top-up")
            let (traceparent, traceID) = Self.newTraceparent()
            fan.traceparent = traceparent
            try await fan.enter()
            let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 3}"#)
            #expect(held.status == 201, "\(held.body)")
            #expect(held.headers["traceparent"]?.split(separator: "-").dropFirst().first.map(String.init) == traceID,
                    "the answer continues the client's trace: \(held.headers)")
            let id = try #require(held["id"] as? Int)
            let paid = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay")
            #expect(paid.status == 200 || paid.status == 201, "\(paid.body)")

            // The order a booking crosses the processes: the gateway takes the token request to the
            // queue, then the hold to reservation, which asks concert; the payment's debit goes to payment last.
            let order = ["gateway", "queue", "reservation", "concert", "payment"]
            var firstSeen: [String: String] = [:]
            for name in order {
                let lines = try Self.jsonLines(stack, name)
                #expect(!lines.isEmpty, "\(name) logged nothing")
                for line in lines {
                    #expect(line["time"] is String && line["level"] is String && line["message"] is String, "\(name): \(line)")
                    #expect(line["service"] as? String == name, "\(name): \(line)")
                }
                let traced = lines.filter { $0["trace_id"] as? String == traceID }
                firstSeen[name] = traced.first?["time"] as? String
                #expect(!traced.isEmpty, "\(name) never logged trace \(traceID)")
                #expect(traced.allSatisfy { ($0["span_id"] as? String)?.count == 16 }, "\(name): a traced line without its span id")
            }
            // RFC 3339 in UTC with microseconds: as text they sort as the times do.
            let times = order.compactMap { firstSeen[$0] }
            #expect(times.count == order.count && times == times.sorted(), "first lines of the trace per process: \(firstSeen)")
            // The saga's steps ran in the request's trace: reservation logged them under it.
            let sagaSteps = try Self.jsonLines(stack, "reservation").filter {
                $0["trace_id"] as? String == traceID && $0["message"] as? String == "saga step"
            }
            #expect(!sagaSteps.isEmpty, "reservation's saga steps are not in the request's trace")
            // The gateway wrote an access line for each request of the trace, with its status and duration.
            let access = try Self.jsonLines(stack, "gateway").filter {
                $0["trace_id"] as? String == traceID && $0["message"] as? String == "request"
            }
            let routes = access.compactMap { ($0["metadata"] as? [String: Any])?["http.route"] as? String }
            #expect(routes.contains("/api/v1/queue/tokens") && routes.contains("/api/v1/reservations"), "\(routes)")
            #expect(access.allSatisfy { ($0["metadata"] as? [String: Any])?["http.duration_ms"] is String }, "\(access)")
        }
    }

    @Test("a saga resumed by a restarted reservation process continues the trace of the request that started it, into payment")
    func resumedSagaKeepsItsTrace() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var (fan, id) = try await Self.holdingFan(stack, seat: 13)
            // The payment starts its saga, then waits on a frozen payment service.
            let (traceparent, traceID) = Self.newTraceparent()
            fan.traceparent = traceparent
            let payment = try #require(stack.process("payment"))
            payment.signal(SIGSTOP)
            let unfinished = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay")
            #expect(unfinished.status == 503, "\(unfinished.body)")
            // The reservation process dies mid-saga; a new one resumes it once payment wakes.
            try #require(stack.process("reservation")).kill()
            payment.signal(SIGCONT)
            // Copies of the debit the dead process sent are answered now, before the new one starts.
            try await Task.sleep(for: .milliseconds(500))
            try stack.restart("reservation", appendingLog: true)
            fan.traceparent = nil
            let paid = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                (try? await fan.send("GET", "/api/v1/reservations/\(id)"))?["status"] as? String == "reserved"
            }
            #expect(paid, "the saga never finished: \(stack.logs)")
            let lines = try Self.jsonLines(stack, "reservation")
            let restart = try #require(lines.lastIndex { $0["message"] as? String == "resuming unfinished sagas" }, "no resume logged")
            let resumedSteps = lines[restart...].filter { $0["trace_id"] as? String == traceID && $0["message"] as? String == "saga step" }
            #expect(!resumedSteps.isEmpty, "the resumed saga's steps are not in the payment request's trace")
            let resumedAt = try #require(lines[restart]["time"] as? String)
            let debit = try Self.jsonLines(stack, "payment").filter {
                $0["trace_id"] as? String == traceID && ($0["time"] as? String ?? "") > resumedAt
                    && ($0["metadata"] as? [String: Any])?["rpc.method"] as? String == "payment.debit"
            }
            #expect(!debit.isEmpty, "payment's debit, sent by the resumed saga, is not in the trace")
        }
    }

    @Test("a backend frozen for 4 s: the request is answered 503 within 3 s, and the gateway's log line names the call and its deadline")
    func frozenBackendIsNamed() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            try await fan.enter()
            let (traceparent, traceID) = Self.newTraceparent()
            fan.traceparent = traceparent
            let reservation = try #require(stack.process("reservation"))
            reservation.signal(SIGSTOP)
            let frozenAt = ContinuousClock.now
            let start = ContinuousClock.now
            let answer = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 5}"#)
            let took = ContinuousClock.now - start
            try await Task.sleep(until: frozenAt + .seconds(4))
            reservation.signal(SIGCONT)
            #expect(answer.status == 503 && answer.code == "service_unavailable", "\(answer.body)")
            #expect(took < .milliseconds(3200), "answered after \(took)")
            let lines = try Self.jsonLines(stack, "gateway").filter { $0["trace_id"] as? String == traceID }
            let refusal = try #require(lines.first { $0["message"] as? String == "answering 503" }, "\(lines)")
            #expect(refusal["level"] as? String == "warning")
            let cause = try #require((refusal["metadata"] as? [String: Any])?["http.cause"] as? String)
            #expect(cause.contains("reservation.reserve") && cause.contains("deadline"), "\(cause)")
            let access = lines.first { $0["message"] as? String == "request" }
            #expect((access?["metadata"] as? [String: Any])?["http.status"] as? String == "503", "\(lines)")
        }
    }

    @Test("after a booking, /metrics has every metric the README names, with every service's samples labelled")
    func everyNamedMetricIsServed() async throws {
        try await withStack(extra: Self.environment) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            let (fan, id) = try await Self.holdingFan(stack, seat: 7)
            #expect(try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: "pay").status < 300)
            // The waiting room's length is counted about once a second.
            try await Task.sleep(for: .milliseconds(1200))

            let metrics = try await stack.get("/metrics")
            #expect(metrics.status == 200)
            let families = Set(metrics.body.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                return line.hasPrefix("# TYPE ") && words.count >= 3 ? String(words[2]) : nil
            })
            let named = try Self.metricsNamedInREADME()
            #expect(named.count >= 15, "the README's metrics table: \(named)")
            let missing = named.filter { !families.contains($0) }
            #expect(missing.isEmpty, "named in the README, not in /metrics: \(missing)")
            for service in TestStack.all {
                #expect(metrics.body.contains("stack_scrape_up{service=\"\(service)\"} 1"), "\(service) did not answer the scrape")
            }
            // A family several services record is written once, with each service's samples under it.
            #expect(metrics.body.components(separatedBy: "# TYPE rpc_server_duration_seconds ").count == 2)
            for service in TestStack.backends {
                #expect(metrics.body.contains("rpc_server_requests_total{service=\"\(service)\""), "\(service)")
            }
            #expect(metrics.body.contains(#"saga_steps_total{service="reservation",kind="pay",step="extend",outcome="paid"}"#),
                    "the payment's saga steps are counted")
            // The payer's token expires with the payment (`queue.expire`), and is counted as revoked.
            let revoked = await eventually(timeout: .seconds(5), interval: .milliseconds(200)) {
                (try? await stack.get("/metrics"))?.body.contains(#"queue_expired_total{service="queue",reason="revoked"} 1"#) == true
            }
            #expect(revoked, "the payer's token expiry is not counted")
        }
    }

    @Test("TRACE_EXPORTER=otlp: a booking's spans reach an OpenTelemetry collector over OTLP/HTTP, from the gateway, reservation and concert, in the client's trace")
    func exportsToACollector() async throws {
        let collected = try TemporaryDirectory("otlp")
        defer { collected.remove() }
        let port = try freeTCPPort()
        let script = repositoryRoot.appendingPathComponent("Tests/Telemetry/otlp_collector.py").path
        let collector = try ManagedProcess("/usr/bin/python3", arguments: [script, "\(port)", collected.path],
                                           logPath: collected.file("collector.log"))
        defer { collector.kill() }
        let exporting = Self.environment.merging([
            "TRACE_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_BSP_SCHEDULE_DELAY": "200",
        ]) { _, new in new }
        try await withStack(extra: exporting) { stack in
            try #require(await stack.waitUntilReady(), "\(stack.logs)")
            var fan = try await Fan.signUp(stack)
            let (traceparent, traceID) = Self.newTraceparent()
            fan.traceparent = traceparent
            try await fan.enter()
            let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": 11}"#)
            #expect(held.status == 201, "\(held.body)")
            // OTLP/JSON writes ids in hex; protobuf's own JSON mapping would write base64: either is the trace.
            let idBytes = stride(from: 0, to: traceID.count, by: 2).map { offset -> UInt8 in
                let start = traceID.index(traceID.startIndex, offsetBy: offset)
                return UInt8(traceID[start..<traceID.index(start, offsetBy: 2)], radix: 16) ?? 0
            }
            let spellings = [traceID, traceID.uppercased(), Data(idBytes).base64EncodedString()]
            func exporters() -> Set<String> {
                let files = (try? FileManager.default.contentsOfDirectory(atPath: collected.path)) ?? []
                var services: Set<String> = []
                for file in files where file.hasSuffix(".json") && file.contains("v1-traces") {
                    guard let body = try? String(contentsOfFile: collected.file(file), encoding: .utf8),
                          spellings.contains(where: body.contains) else { continue }
                    for service in TestStack.all where body.contains("\"\(service)\"") { services.insert(service) }
                }
                return services
            }
            let reached = await eventually(timeout: .seconds(15), interval: .milliseconds(200)) {
                exporters().isSuperset(of: ["gateway", "reservation", "concert"])
            }
            #expect(reached, "services whose spans of the trace arrived: \(exporters()); collector: \(collector.log)")
        }
    }

    /// The metric names in the README's metrics table: the first cell of each row, in backticks.
    static func metricsNamedInREADME() throws -> [String] {
        let readme = try String(contentsOf: repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "### Metrics").dropFirst().first, "no Metrics section")
        let table = section.components(separatedBy: "\n#").first ?? section
        return table.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`").first.map(String.init)
        }
    }
}
