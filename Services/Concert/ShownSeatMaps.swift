import Foundation
import GRDB
import Synchronization

/// The seat map each schedule shows now, encoded, in memory: what `concert.seats` answers on the
/// server's socket thread without reading the file. A kept map is never answered once the map it
/// shows has changed:
/// - it is dropped by the commit that changes its schedule's `version` (every seat write does;
///   this is a transaction observer on that column, so no write path can forget it), before that
///   commit's writes are answered;
/// - a read keeps its map only if no such commit came since the read began, so a map read from
///   before a commit never outlives it;
/// - it is shown only until a millisecond before its first hold lapses, since time alone changes
///   the map then (stored times are whole milliseconds; SQL compares them as text, Swift as dates).
/// Bounded: when the bodies kept pass `mostBytes` it starts again, costing one read per schedule.
final class ShownSeatMaps: Sendable {
    struct Shown: Sendable {
        let version: Int64
        /// The `SeatMap` with its seats, as `WireCodec.encoder` writes it.
        let body: Data
        /// Shown until then; nil while no seat is held.
        let until: Date?
    }

    private struct State {
        var shown: [Int64: Shown] = [:]
        var bytes = 0
        /// Per schedule, the commits that changed it: what a read compares before keeping its map.
        var commits: [Int64: UInt64] = [:]
        /// The schedules the transaction under way changes (the writer's thread only).
        var changing: Set<Int64> = []
    }

    private let state = Mutex(State())
    static let mostBytes = 16 << 20

    /// The map `scheduleId` shows at `now`, if kept.
    func shown(of scheduleId: Int64, at now: Date) -> Shown? {
        state.withLock { state in
            guard let shown = state.shown[scheduleId] else { return nil }
            if let until = shown.until, now >= until { return nil }
            return shown
        }
    }

    /// Taken before reading a schedule's map, and handed to `keep` with what the read found.
    func mark(of scheduleId: Int64) -> UInt64 {
        state.withLock { $0.commits[scheduleId, default: 0] }
    }

    /// Keeps a map read since `mark`, unless a commit changed its schedule meanwhile or a map read
    /// later is kept already (versions only rise).
    func keep(_ shown: Shown, of scheduleId: Int64, readSince mark: UInt64) {
        state.withLock { state in
            guard state.commits[scheduleId, default: 0] == mark else { return }
            if let current = state.shown[scheduleId] {
                guard current.version <= shown.version else { return }
                state.bytes -= current.body.count
            }
            if state.bytes + shown.body.count > Self.mostBytes { state.shown = [:]; state.bytes = 0 }
            state.shown[scheduleId] = shown
            state.bytes += shown.body.count
        }
    }

    /// Ends the transaction under way: its schedules' maps are dropped, committed or not.
    private func transactionEnded() {
        state.withLock { state in
            for scheduleId in state.changing {
                state.commits[scheduleId, default: 0] &+= 1
                if let dropped = state.shown.removeValue(forKey: scheduleId) { state.bytes -= dropped.body.count }
            }
            state.changing = []
        }
    }
}

extension ShownSeatMaps: TransactionObserver {
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        guard case .update(let table, let columns) = eventKind else { return false }
        return table == "concert_schedule" && columns.contains("version")
    }

    func databaseDidChange(with event: DatabaseEvent) {
        // The schedule's id is its rowid.
        let scheduleId = event.rowID
        state.withLock { _ = $0.changing.insert(scheduleId) }
    }

    func databaseDidCommit(_ db: Database) { transactionEnded() }

    func databaseDidRollback(_ db: Database) { transactionEnded() }
}
