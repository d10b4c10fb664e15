import Foundation
import Testing
import TestSupport

/// Five "hosts" on one machine: a network namespace per process, each with its own address on a
/// bridge (veth pairs, iproute2), so that a process reaches its peers only by the endpoint
/// variables of CONTRACT §2, over real TCP, and one host's link can be cut.
final class NamespaceNetwork {
    struct Host {
        let name: String
        let namespace: String
        /// The bridge's end of the host's veth pair: taking it down cuts the host off.
        let link: String
        let address: String
    }

    let hosts: [String: Host]
    let bridge: String
    let gatewayAddress: String
    private var created: [[String]] = []

    /// Whether this machine lets us make namespaces (root, iproute2, a kernel that allows it), or why not.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "needs root to create network namespaces (ip netns); run the tests as root" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip") else {
            return "needs iproute2's ip (apt-get install iproute2)"
        }
        let probe = "ctprobe\(getpid() % 100_000)"
        defer { _ = NamespaceNetwork.ip(["netns", "delete", probe]) }
        guard NamespaceNetwork.ip(["netns", "add", probe]).status == 0 else { return "this kernel or container does not allow network namespaces" }
        return nil
    }()

    init(names: [String]) throws {
        let tag = "\(getpid() % 10_000)"
        // A /24 no route on this machine uses yet.
        let routes = Self.ip(["route"]).output
        guard let subnet = (20..<250).lazy.map({ "10.213.\($0)" }).first(where: { !routes.contains("\($0).") }) else {
            throw NetworkError("no free 10.213.x.0/24 subnet")
        }
        bridge = "ctbr\(tag)"
        gatewayAddress = "\(subnet).1"
        var hosts: [String: Host] = [:]
        for (index, name) in names.enumerated() {
            hosts[name] = Host(name: name, namespace: "ct\(tag)-\(name)", link: "ct\(tag)h\(index)", address: "\(subnet).\(10 + index)")
        }
        self.hosts = hosts
        do {
            try run(["link", "add", bridge, "type", "bridge"], undo: ["link", "delete", bridge])
            try run(["addr", "add", "\(gatewayAddress)/24", "dev", bridge])
            try run(["link", "set", bridge, "up"])
            for host in hosts.values {
                try run(["netns", "add", host.namespace], undo: ["netns", "delete", host.namespace])
                try run(["link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.namespace],
                        undo: ["link", "delete", host.link])
                try run(["link", "set", host.link, "master", bridge, "up"])
                try run(["-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0"])
                try run(["-n", host.namespace, "link", "set", "eth0", "up"])
                try run(["-n", host.namespace, "link", "set", "lo", "up"])
            }
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// Removes the namespaces, links and bridge, newest first. Safe to call twice.
    func tearDown() {
        for undo in created.reversed() { _ = Self.ip(undo) }
        created = []
    }

    func setLink(of host: String, up: Bool) throws {
        try run(["link", "set", hosts[host]!.link, up ? "up" : "down"])
    }

    /// The command that runs a program inside a host's namespace.
    func wrapper(for host: String) -> [String] { [Self.ipPath, "netns", "exec", hosts[host]!.namespace] }

    private func run(_ arguments: [String], undo: [String]? = nil) throws {
        let result = Self.ip(arguments)
        guard result.status == 0 else { throw NetworkError("ip \(arguments.joined(separator: " ")): \(result.output)") }
        if let undo { created.append(undo) }
    }

    static let ipPath = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"

    @discardableResult
    static func ip(_ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ipPath)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        do { try process.run() } catch { return (-1, "\(error)") }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    struct NetworkError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

extension UnderLoadTests.DeploymentTests {
    @Suite("Several hosts: each process in its own network namespace", .serialized, .timeLimit(.minutes(3)))
    struct MultiHostTests {
        @Test("booked across five hosts over TCP; one host's link down: the endpoints that need it answer 503 within 3 s, the rest keep working; link back: everything works and the invariants hold",
              .enabled(if: NamespaceNetwork.unavailableReason == nil, "\(NamespaceNetwork.unavailableReason ?? "")"))
        func bookAcrossHosts() async throws {
            let network = try NamespaceNetwork(names: TestStack.all)
            defer { network.tearDown() }
            // Every service binds its own address; peers find it by the endpoint variables alone.
            var endpoints: [String: String] = ["QUEUE_ADMIT_PER_SECOND": "1000"]
            for service in TestStack.backends {
                let prefix = service.uppercased()
                let address = network.hosts[service]!.address
                let port = ["queue": 7101, "concert": 7201, "reservation": 7301, "payment": 7401][service]!
                endpoints["\(prefix)_RPC"] = "tcp://\(address):\(port)"
                endpoints["\(prefix)_EVENTS"] = "tcp://\(address):\(port + 1)"
                endpoints["\(prefix)_BIND"] = "tcp://*:\(port)"
                endpoints["\(prefix)_EVENTS_BIND"] = "tcp://*:\(port + 1)"
            }
            let gatewayHost = network.hosts["gateway"]!.address
            endpoints["GATEWAY_HOST"] = gatewayHost
            let stack = try TestStack(extra: endpoints)
            stack.gatewayAddress = gatewayHost
            do {
                for name in TestStack.all {
                    // Each host keeps its own data folder, as separate machines would.
                    try stack.start(name, under: network.wrapper(for: name), extra: ["DATA_DIR": stack.folder.file("\(name)-host")])
                }
                try #require(await stack.waitUntilReady(timeout: .seconds(30)), "\(stack.logs)")

                var fan = try await Fan.signUp(stack, name: "원격")
                try await fan.enter()
                let seats = try await BookingLoad.seatIds(stack)
                _ = try await fan.send("POST", "/api/v1/wallet/charges", body: #"{"amount": 1000000}"#, key: "top-up")
                try await book(&fan, seats: seats, key: "first")

                // The payment host is cut off.
                try network.setLink(of: "payment", up: false)
                let started = ContinuousClock.now
                let wallet = try await fan.send("GET", "/api/v1/wallet")
                let waited = ContinuousClock.now - started
                print("payment host cut off: GET /api/v1/wallet answered \(wallet.status) \(wallet.code ?? "") after \(seconds(waited)) s")
                #expect(wallet.status == 503 && wallet.code == "service_unavailable", "\(wallet.body)")
                #expect(waited < .milliseconds(3500), "answered after \(waited)")
                // What does not need payment still works: the catalog is public.
                #expect(try await stack.send("GET", "/api/v1/concerts").status == 200)
                let ready = try await stack.send("GET", "/readyz")
                #expect(ready.status == 503 && ready.body.contains("payment"), "\(ready.body)")

                // The link comes back: everything works again, bookings included.
                try network.setLink(of: "payment", up: true)
                try #require(await stack.waitUntilReady(timeout: .seconds(30)), "\(stack.logs)")
                fan.token = nil
                try await fan.enter()
                try await book(&fan, seats: seats, key: "second")

                await stack.stopAll()
                let violations = try StorageInvariants(concertFile: stack.folder.file("concert-host/concert.sqlite"),
                                                       paymentFile: stack.folder.file("payment-host/payment.sqlite"),
                                                       reservationFile: stack.folder.file("reservation-host/reservation.sqlite")).violations()
                #expect(violations.isEmpty, "\(violations)")
                stack.folder.remove()
            } catch {
                await stack.stopAll()
                throw error
            }
        }

        /// Holds the first free seat it can and pays for it.
        func book(_ fan: inout Fan, seats: [Int], key: String) async throws {
            for seat in seats.shuffled() {
                let held = try await fan.send("POST", "/api/v1/reservations", body: #"{"seatId": \#(seat)}"#)
                guard held.status == 201, let id = held["id"] as? Int else { continue }
                let paid = try await fan.send("POST", "/api/v1/reservations/\(id)/payment", key: key)
                #expect(paid.status == 201, "\(paid.body)")
                #expect(try await fan.send("GET", "/api/v1/reservations/\(id)")["status"] as? String == "reserved")
                return
            }
            Issue.record("no seat could be held")
        }
    }
}
