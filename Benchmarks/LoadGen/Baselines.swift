import ArgumentParser
import Foundation
import GRDB
import Histogram
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceKit
import ZeroMQ

/// The baseline for the read path: Hummingbird's hello world, as its own process, on the same
/// framework, defaults and executor as the gateway (Swift tasks on NIO's event loops).
struct HelloServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hello-server", abstract: "Serve Hummingbird's hello world (a baseline).")

    @Option var port: Int

    func run() async throws {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let router = Router()
        router.get("/") { _, _ in "Hello, world!" }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              logger: Logger(label: "hello-server"))
        try await app.runService()
    }
}

/// The baseline for one service hop: a bare REP socket that sends every message straight back.
struct ZMQEchoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "zmq-echo", abstract: "Echo ZeroMQ REQ messages (a baseline).")

    @Option var endpoint: String

    func run() throws {
        let socket = try ZMQSocket(.reply)
        try socket.bind(endpoint)
        while true {
            guard let frames = try socket.receive(wait: true) else { continue }
            try socket.send(frames, wait: true)
        }
    }
}

enum Baselines {
    /// `count` REQ/REP round trips one after another, each timed, against `zmq-echo` at `endpoint`,
    /// with a frame the size of a ping request envelope.
    static func zeroMQRoundTrips(endpoint: String, count: Int) throws -> LatencySummary {
        let socket = try ZMQSocket(.request)
        defer { socket.close() }
        // REQ queues the first request until the echo process has bound; neither side waits forever.
        try socket.set(.sendTimeout(milliseconds: 5000))
        try socket.set(.receiveTimeout(milliseconds: 5000))
        try socket.connect(endpoint)
        let frame = Data(#"{"v":1,"id":"12345-67890-1","method":"concert.ping","body":{}}"#.utf8)
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        for index in 0..<(count + 200) {
            let start = ContinuousClock.now
            try socket.send([frame], wait: true)
            guard try socket.receive(wait: true) != nil else { throw BenchError.setup("zmq-echo did not answer") }
            // The first 200 warm the connection up and are not counted.
            if index >= 200 { histogram.record(UInt64((ContinuousClock.now - start) / .nanoseconds(1000))) }
        }
        return LatencySummary(histogram)
    }

    /// The seat-hold transaction of the concert service (read the seat and its schedule, the one
    /// conditional UPDATE that decides who gets the seat, the schedule's counters), one writer,
    /// one transaction at a time, on a file opened the way every service opens its own
    /// (WAL, `synchronous=FULL`). Answers committed transactions per second.
    static func sqliteSeatHolds(folder: String, seconds: Double) throws -> (perSecond: Double, latency: LatencySummary) {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("seats") { db in
            try db.execute(sql: """
                CREATE TABLE concert_schedule (id INTEGER PRIMARY KEY, remain_ticket INTEGER NOT NULL, version INTEGER NOT NULL, updated_at TEXT);
                CREATE TABLE concert_seat (id INTEGER PRIMARY KEY, concert_schedule_id INTEGER NOT NULL REFERENCES concert_schedule(id),
                    status TEXT NOT NULL, reservation_id TEXT, expired_at TEXT, updated_at TEXT);
                """)
        }
        let pool = try DatabaseOpener.openPool(path: "\(folder)/baseline-seats.sqlite", migrator: migrator)
        let seats = 200_000
        try pool.write { db in
            try db.execute(sql: "INSERT INTO concert_schedule VALUES (1, ?, 0, NULL)", arguments: [seats])
            let insert = try db.makeStatement(sql: "INSERT INTO concert_seat (id, concert_schedule_id, status) VALUES (?, 1, 'available')")
            for id in 1...seats { try insert.execute(arguments: [id]) }
        }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000)
        let start = ContinuousClock.now
        let end = start + .seconds(seconds)
        var committed = 0
        while ContinuousClock.now < end, committed < seats {
            let began = ContinuousClock.now
            let seatId = committed + 1
            let now = Date()
            try pool.write { db in
                _ = try Row.fetchOne(db, sql: "SELECT * FROM concert_seat WHERE id = ?", arguments: [seatId])
                _ = try Row.fetchOne(db, sql: "SELECT * FROM concert_schedule WHERE id = 1")
                try db.execute(sql: """
                    UPDATE concert_seat SET status = 'reserving', reservation_id = ?, expired_at = ?, updated_at = ?
                    WHERE id = ? AND (status = 'available' OR (status = 'reserving' AND expired_at <= ?))
                    """, arguments: ["r-\(seatId)", now.addingTimeInterval(300), now, seatId, now])
                try db.execute(sql: "UPDATE concert_schedule SET remain_ticket = remain_ticket - 1, version = version + 1, updated_at = ? WHERE id = 1",
                               arguments: [now])
            }
            committed += 1
            histogram.record(UInt64((ContinuousClock.now - began) / .microseconds(1)))
        }
        let elapsed = (ContinuousClock.now - start) / .seconds(1)
        return (Double(committed) / elapsed, LatencySummary(histogram))
    }
}
