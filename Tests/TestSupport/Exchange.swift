import Foundation

/// One HTTP exchange of a load a test or the chaos run drives: what was asked, when, and what came
/// back (or the error when nothing did).
package struct Exchange: Sendable {
    package let what: String
    package let started: ContinuousClock.Instant
    package let ended: ContinuousClock.Instant
    package let status: Int?
    package let code: String?
    package let error: String?

    package init(what: String, started: ContinuousClock.Instant, ended: ContinuousClock.Instant,
                 status: Int?, code: String?, error: String?) {
        self.what = what
        self.started = started
        self.ended = ended
        self.status = status
        self.code = code
        self.error = error
    }

    /// A contract answer (CONTRACT §3): a success, or a problem with its code; 5xx only as 503
    /// `service_unavailable`. No answer at all is not one.
    package var isContractAnswer: Bool {
        guard let status else { return false }
        if status < 400 { return true }
        if status == 503 { return code == "service_unavailable" }
        return status < 500 && code != nil
    }

    /// `201`, `409 seat_unavailable` or `no answer`.
    package var outcome: String {
        status.map { "\($0)\(code.map { " \($0)" } ?? "")" } ?? "no answer"
    }

    package var elapsed: Duration { ended - started }
}

/// Exchanges counted by what was asked and its outcome (`pay: 201`, `reserve: 409 seat_unavailable`).
package func tally(_ exchanges: [Exchange]) -> [String: Int] {
    var counts: [String: Int] = [:]
    for exchange in exchanges {
        counts["\(exchange.what): \(exchange.outcome)", default: 0] += 1
    }
    return counts
}
