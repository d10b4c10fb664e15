import Foundation
import Testing
import TestSupport

extension UnderLoadTests {
    /// `make bench`'s load generator, run short: it must keep working, so a smoke run of its baselines
    /// and one scenario is part of `make test`. It asserts what the report holds, never a speed.
    @Suite("The load generator (make bench)", .timeLimit(.minutes(4)))
    struct LoadGenTests {
        @Test("a quick run measures the baselines (the hello world by wrk too, when installed) and the one-hop scenario, and writes both reports")
        func quickRun() async throws {
            let folder = try TemporaryDirectory("bench")
            defer { folder.remove() }
            let run = try await runToCompletion("loadgen", ["bench", "--quick", "--only", "hop", "--out", folder.path], timeout: .seconds(200))
            try #require(run.status == 0, "\(run.output.suffix(4000))")

            let data = try Data(contentsOf: URL(fileURLWithPath: folder.file("report.json")))
            let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let baselines = try #require(report["baselines"] as? [String: Any])
            // wrk reads the hello world again when it is installed (`make test-tools` installs it).
            let wrkInstalled = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
                .contains { FileManager.default.isExecutableFile(atPath: "\($0)/wrk") }
            let expected = Set(["zeromq round trip", "sqlite seat holds", "hello world"] + (wrkInstalled ? ["hello world, read by wrk"] : []))
            #expect(Set(baselines.keys) == expected)
            if wrkInstalled {
                let byWrk = try #require(baselines["hello world, read by wrk"] as? [String: Any], "\(baselines)")
                let capacity = try #require((byWrk["wrk"] as? [String: Any])?["_0"] as? [String: Any], "\(byWrk)")
                #expect((capacity["requests"] as? Int ?? 0) > 0 && (capacity["failed"] as? Int) == 0, "\(capacity)")
            }
            let scenarios = try #require(report["scenarios"] as? [[String: Any]])
            let names = scenarios.compactMap { $0["name"] as? String }
            #expect(names.contains { $0.hasPrefix("1. one service hop") }, "\(names)")
            #expect(names.contains { $0.hasPrefix("5. memory") }, "\(names)")
            #expect((report["invariantViolations"] as? [String])?.isEmpty == true)
            let machine = try #require(report["machine"] as? [String: Any])
            #expect((machine["cores"] as? Int ?? 0) > 0)

            let markdown = try String(contentsOfFile: folder.file("report.md"), encoding: .utf8)
            #expect(markdown.contains("## Baselines, measured in this run") && markdown.contains("| 1. one service hop"))
        }
    }
}
