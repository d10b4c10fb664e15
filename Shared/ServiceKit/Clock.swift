import Foundation
import Synchronization

/// Where domain logic reads the time. Injected, never read directly, so tests control expiry
/// (DESIGN §8): holds, tokens and admission are tested in milliseconds, not minutes.
package protocol WallClock: Sendable {
    func now() -> Date
}

/// The real time.
package struct SystemClock: WallClock {
    package init() {}
    package func now() -> Date { Date() }
}

/// A clock tests move by hand.
package final class ManualClock: WallClock {
    private let current: Mutex<Date>

    package init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    package func now() -> Date { current.withLock { $0 } }

    package func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    package func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
