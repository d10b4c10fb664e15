import Foundation
import Testing
import TestSupport

/// The JSON object a command printed (its stdout), ignoring the one-line summary it writes to stderr.
func printedJSON(_ output: String) -> [String: Any]? {
    guard let start = output.firstIndex(of: "{"), let end = output.lastIndex(of: "}") else { return nil }
    return try? JSONSerialization.jsonObject(with: Data(output[start...end].utf8)) as? [String: Any]
}

extension UnderLoadTests.DeploymentTests {
    @Suite("Backups, restore and reconciliation", .serialized, .timeLimit(.minutes(5)))
    struct BackupTests {
        @Test("backed up under load at different moments, restored into a fresh data folder, reconciled: every difference repaired and every invariant of CONTRACT §4 true")
        func backupRestoreReconcile() async throws {
            let backups = try TemporaryDirectory("backups")
            defer { backups.remove() }
            try await withStack(extra: BookingLoad.environment) { stack in
                let (load, running) = try await BookingLoad.start(on: stack, fans: 8, untilPaid: 5)
                defer { running.cancel() }

                // The reservation service's copy first; the others only after more bookings are paid,
                // so the copies disagree the way copies taken one by one on a live system do.
                let first = try await stack.run("reservation", ["backup", backups.file("reservation.sqlite")])
                try #require(first.status == 0, "\(first.output)")
                let paidAtFirst = load.paid
                #expect(await eventually(timeout: .seconds(20)) { load.paid >= paidAtFirst + 3 }, "\(tally(load.exchanges))")
                for name in ["concert", "payment", "queue"] {
                    let copy = try await stack.run(name, ["backup", backups.file("\(name).sqlite")])
                    try #require(copy.status == 0, "\(copy.output)")
                    let summary = try #require(printedJSON(copy.output), "\(copy.output)")
                    #expect(summary["integrity"] as? String == "ok" && (summary["pages"] as? Int ?? 0) > 0, "\(summary)")
                    print("backup of \(name) under load: \(summary["bytes"] ?? "?") bytes in \(summary["seconds"] ?? "?") s")
                }
                load.stop()
                await running.value
            }

            // A fresh data folder, the copies restored into it, the stack started on them.
            try await withStack(extra: BookingLoad.environment, start: []) { stack in
                for name in TestStack.backends {
                    let restored = try await stack.run(name, ["restore", backups.file("\(name).sqlite")])
                    try #require(restored.status == 0, "\(name): \(restored.output)")
                }
                try stack.start()
                try #require(await stack.waitUntilReady(), "\(stack.logs)")

                let compared = try await stack.run("reservation", ["reconcile"], timeout: .seconds(60))
                let before = try #require(printedJSON(compared.output), "\(compared.output)")
                let differences = before["findings"] as? [[String: Any]] ?? []
                print("reconcile before repair: \(differences.count) differences, e.g. \(differences.prefix(3).map { $0["problem"] ?? "" })")
                #expect(compared.status == 1 && !differences.isEmpty, "the copies were taken at different moments: \(compared.output)")
                #expect(differences.allSatisfy { $0["outcome"] as? String == "proposed" })

                let repaired = try await stack.run("reservation", ["reconcile", "--repair"], timeout: .seconds(60))
                #expect(repaired.status == 0, "\(repaired.output)\n\(stack.logs)")
                let report = try #require(printedJSON(repaired.output), "\(repaired.output)")
                #expect(report["consistent"] as? Bool == true)

                let again = try await stack.run("reservation", ["reconcile"], timeout: .seconds(60))
                #expect(again.status == 0 && (printedJSON(again.output)?["findings"] as? [Any])?.isEmpty == true, "\(again.output)")

                await stack.stopAll()
                let data = try #require(stack.environment["DATA_DIR"])
                let violations = try StorageInvariants(dataDirectory: data).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }

        @Test("a backup never overwrites a file; a restore refuses a running service and another service's file, and keeps the file it replaces")
        func refusals() async throws {
            try await withStack(start: ["concert", "payment"]) { stack in
                #expect(await eventually(timeout: .seconds(10)) { (try? await stack.run("concert", ["probe", "ping"]))?.status == 0 })
                let copy = stack.folder.file("concert-copy.sqlite")
                #expect(try await stack.run("concert", ["backup", copy]).status == 0)
                let twice = try await stack.run("concert", ["backup", copy])
                #expect(twice.status == 1 && twice.output.contains("exists already"), "\(twice.output)")

                let running = try await stack.run("concert", ["restore", copy])
                #expect(running.status == 1 && running.output.contains("stop it first"), "\(running.output)")

                await stack.stop("payment")
                let wrong = try await stack.run("payment", ["restore", copy])
                #expect(wrong.status == 1 && wrong.output.contains("not a payment database"), "\(wrong.output)")

                await stack.stop("concert")
                let restored = try await stack.run("concert", ["restore", copy])
                #expect(restored.status == 0, "\(restored.output)")
                let previous = try #require(printedJSON(restored.output)?["previous"] as? String, "\(restored.output)")
                #expect(FileManager.default.fileExists(atPath: previous))
                let missing = try await stack.run("queue", ["backup", stack.folder.file("queue-copy.sqlite")])
                #expect(missing.status == 1 && missing.output.contains("no queue database"), "\(missing.output)")
            }
        }
    }
}
