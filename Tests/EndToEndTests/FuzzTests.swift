import Foundation
import Testing
import TestSupport

extension UnderLoadTests {
    /// Hostile input against the five real executables (issue 6): the HTTP API fuzzed from its own
    /// OpenAPI document with schemathesis (`Tests/Fuzz/http_fuzz.py`), and every backend's RPC
    /// endpoint fed random, truncated, ill-typed, multi-frame and oversized frames with pyzmq
    /// (`Tests/Fuzz/rpc_fuzz.py`). Afterwards every process still runs with the pid it started
    /// with, no log shows a crash or a failed handler, and CONTRACT §4 holds on the files.
    /// Among the suites under load: the fuzzers keep both cores busy.
    @Suite("Hostile input, fuzzed", .serialized, .timeLimit(.minutes(4)))
    struct FuzzTests {
        static let root = repositoryRoot
        static let python = venvTool("python")
        static let httpFuzz = root.appendingPathComponent("Tests/Fuzz/http_fuzz.py").path
        static let rpcFuzz = root.appendingPathComponent("Tests/Fuzz/rpc_fuzz.py").path
        static let adminToken = "fuzz-admin-\(UUID().uuidString)"
        /// The admin API on, so it is fuzzed too, and admission at once, so the fuzzing user's token is active.
        static let environment = ["ADMIN_TOKEN": adminToken, "QUEUE_ADMIT_PER_SECOND": "1000"]
        /// What a process that crashed leaves in its log (Swift's runtime and backtracer, the kernel's
        /// signals), and what the RPC server logs when a handler throws something other than a refusal.
        static let crashMarkers = ["Fatal error", "Program crashed", "Segmentation fault", "Illegal instruction", "Bus error",
                                   "Aborted", "handler failed"]

        @Test("the HTTP API fuzzed from GET /openapi.json with a real user, an active queue token and the admin bearer: no 5xx, every 4xx a problem, the document's statuses, types and schemas")
        func httpAPI() async throws {
            try await requireTools()
            try await withStack(extra: Self.environment) { stack in
                try #require(await stack.waitUntilReady(), "\(stack.logs)")
                let pids = startedPids(stack)
                let output = try await runScript("http", Self.httpFuzz, ["--base-url", stack.baseURL, "--admin-token", Self.adminToken], stack)
                // The summary line: "http_fuzz: seed 6: 1338 requests sent in 26.2 s; statuses: …".
                let sent = output.split(separator: "\n").first { $0.hasPrefix("http_fuzz: seed") }
                    .flatMap { $0.split(separator: " ").dropFirst(3).first }.flatMap { Int($0) } ?? 0
                #expect(sent >= 500, "only \(sent) requests were sent:\n\(output)")
                try await checkAfterFuzzing(stack, pids: pids)
            }
        }

        @Test("every RPC endpoint fed random bytes, truncated and ill-typed envelopes, absurd bodies for every method, multi-frame, empty and oversized frames over DEALER and REQ: every reply an envelope, none internal, no service restarted")
        func rpcEndpoints() async throws {
            try await requireTools()
            try await withStack(extra: Self.environment) { stack in
                try #require(await stack.waitUntilReady(), "\(stack.logs)")
                let pids = startedPids(stack)
                let endpoints = TestStack.backends.flatMap { ["--\($0)", stack.environment["\($0.uppercased())_RPC"] ?? ""] }
                let output = try await runScript("rpc", Self.rpcFuzz, endpoints, stack)
                for service in TestStack.backends {
                    #expect(output.contains("rpc_fuzz: \(service): pid \(pids[service] ?? -1),"), "\(service) was not fuzzed, or answered with another pid:\n\(output)")
                }
                try await checkAfterFuzzing(stack, pids: pids)
            }
        }

        /// The fuzzers' tools come from `.venv` (deploy/local/test-tools.sh, run by `make test`);
        /// without them the suite fails, saying so, rather than passing having fuzzed nothing.
        func requireTools() async throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.python),
                         "\(Self.python) is missing: run deploy/local/test-tools.sh (make test does) to install schemathesis and pyzmq")
            let check = try await runToCompletion(Self.python, ["-c", "import schemathesis, zmq"], timeout: .seconds(60))
            try #require(check.status == 0, "schemathesis or pyzmq is missing from .venv: run deploy/local/test-tools.sh (make test does)\n\(check.output)")
        }

        func startedPids(_ stack: TestStack) -> [String: pid_t] {
            Dictionary(uniqueKeysWithValues: TestStack.all.compactMap { name in stack.process(name).map { (name, $0.pid) } })
        }

        /// Runs a fuzzer to completion in its own process group (schemathesis runs as its child), and
        /// requires exit 0; its output goes to the failure message and the test log.
        func runScript(_ name: String, _ script: String, _ arguments: [String], _ stack: TestStack) async throws -> String {
            let started = ContinuousClock.now
            let fuzzer = try ManagedProcess(Self.python, arguments: [script] + arguments,
                                            environment: ["PYTHONDONTWRITEBYTECODE": "1", "FUZZ_SEED": "6"],
                                            logPath: stack.folder.file("fuzz-\(name).log"), ownProcessGroup: true)
            let finished = await fuzzer.waitForExit(timeout: .seconds(180))
            fuzzer.signalGroup(SIGKILL)
            fuzzer.kill()
            let output = fuzzer.log
            print("[\(name) fuzzing, \(seconds(ContinuousClock.now - started)) s]\n\(output)")
            try #require(finished, "the \(name) fuzzer did not finish in 180 s:\n\(output)")
            try #require(fuzzer.exitStatus == 0, "\(output)\n\(stack.logs.suffix(6000))")
            return output
        }

        /// Every process still the one started (running, same pid, and for a backend the pid its own
        /// ping reports), no log with a crash, and CONTRACT §4 on the files once the stack is at rest.
        func checkAfterFuzzing(_ stack: TestStack, pids: [String: pid_t]) async throws {
            for name in TestStack.all {
                let process = try #require(stack.process(name))
                #expect(process.isRunning && process.pid == pids[name], "\(name) is not the process started (exit status \(String(describing: process.exitStatus)))")
            }
            for service in TestStack.backends {
                let ping = try await stack.run(service, ["probe", "ping"])
                let answer = try? JSONSerialization.jsonObject(with: Data(ping.output.utf8)) as? [String: Any]
                #expect(ping.status == 0 && (answer?["pid"] as? Int).map { pid_t($0) } == pids[service], "\(service) ping: \(ping.output)")
            }
            await stack.stopAll()
            for name in TestStack.all {
                let log = (try? String(contentsOfFile: stack.folder.file("\(name).log"), encoding: .utf8)) ?? ""
                let lines = log.split(separator: "\n").filter { line in Self.crashMarkers.contains { line.contains($0) } }
                #expect(lines.isEmpty, "\(name).log:\n\(lines.prefix(10).joined(separator: "\n"))")
            }
            let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
            #expect(violations.isEmpty, "\(violations)")
        }
    }
}
