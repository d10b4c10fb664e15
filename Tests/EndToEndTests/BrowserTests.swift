import Foundation
import Testing
import TestSupport

extension UnderLoadTests {
    /// The box-office page (`/`) in headless Chromium, driven by selenium, against the five real
    /// executables. Each test starts a stack with the settings its scenario needs, runs one scenario of
    /// `Tests/Browser/scenarios.py`, and checks CONTRACT §4 on the files afterwards. Screenshots go to
    /// `test-artifacts/browser/`.
    @Suite("The box-office page in a real browser", .serialized, .timeLimit(.minutes(10)))
    struct BrowserTests {
        static let root = repositoryRoot
        static let python = venvTool("python")
        static let scenarios = root.appendingPathComponent("Tests/Browser/scenarios.py").path
        static let artifacts = root.appendingPathComponent("test-artifacts/browser").path
        static let chromedriver = ProcessInfo.processInfo.environment["CHROMEDRIVER"] ?? "/usr/bin/chromedriver"
        /// Admission at once, unless a scenario is about waiting.
        static let fastQueue = ["QUEUE_ADMIT_PER_SECOND": "1000"]

        @Test("a whole booking from sign-up to a reserved reservation in 'my reservations', each screen photographed, the console clean")
        func booking() async throws {
            try await run("booking", Self.fastQueue.merging(["HOLD_SECONDS": "120"]) { $1 })
        }

        @Test("a seat found with Tab and the arrow keys, chosen with Enter, then another with Shift+Tab and Space, and held with Enter")
        func keyboard() async throws {
            try await run("keyboard", Self.fastQueue)
        }

        @Test("two browsers race for one seat: the loser's page names the seat and shows it taken; a watching map follows within seconds")
        func race() async throws {
            try await run("race", Self.fastQueue)
        }

        @Test("a hold left to lapse: the countdown warns, the page says it lapsed, and the seat is free again on the map")
        func lapse() async throws {
            try await run("lapse", Self.fastQueue.merging(["HOLD_SECONDS": "8"]) { $1 })
        }

        @Test("a full room (2 active): as those ahead leave, the position goes 4, 3, 2, 1 without a reload, then the page moves on by itself")
        func waiting() async throws {
            try await run("waiting", Self.fastQueue.merging(["QUEUE_MAX_ACTIVE": "2"]) { $1 })
        }

        @Test("leaving the line expires the token at once and goes back to the concerts")
        func leave() async throws {
            try await run("leave", Self.fastQueue.merging(["QUEUE_MAX_ACTIVE": "1"]) { $1 })
        }

        @Test("at phone width (390×844) the seat list is the layout, and a seat is held from it")
        func phone() async throws {
            try await run("phone", Self.fastQueue)
        }

        /// Runs one scenario against a fresh stack; chromium and everything else the run started is
        /// killed with its process group whatever happens.
        func run(_ scenario: String, _ environment: [String: String]) async throws {
            try #require(FileManager.default.isExecutableFile(atPath: Self.python) && FileManager.default.isExecutableFile(atPath: Self.chromedriver),
                         "the browser tests need chromium, chromium-driver and selenium in .venv: make test installs them")
            try FileManager.default.createDirectory(atPath: Self.artifacts, withIntermediateDirectories: true)
            try await withStack(extra: environment) { stack in
                try #require(await stack.waitUntilReady(), "\(stack.logs)")
                let log = stack.folder.file("browser-\(scenario).log")
                let browser = try ManagedProcess(
                    Self.python, arguments: [Self.scenarios, scenario, "--base-url", stack.baseURL, "--artifacts", Self.artifacts],
                    environment: environment.merging(["PYTHONDONTWRITEBYTECODE": "1", "CHROMEDRIVER": Self.chromedriver]) { $1 },
                    logPath: log, ownProcessGroup: true)
                let finished = await browser.waitForExit(timeout: .seconds(150))
                browser.signalGroup(SIGKILL)
                browser.kill()
                let output = browser.log
                print("[browser \(scenario)]\n\(output)")
                try #require(finished, "the \(scenario) scenario did not finish in 150 s:\n\(output)")
                try #require(browser.exitStatus == 0, "\(output)\n\(stack.logs.suffix(6000))")

                await stack.stopAll()
                let violations = try StorageInvariants(dataDirectory: try #require(stack.environment["DATA_DIR"])).violations()
                #expect(violations.isEmpty, "\(violations)")
            }
        }
    }

    @Suite("The box-office page over HTTP", .timeLimit(.minutes(2)))
    struct WebPageHTTPTests {
        @Test("/ is the page, modules are text/javascript, an ETag answers 304, other methods 405")
        func served() async throws {
            try await withStack(start: ["gateway"]) { stack in
                let ready = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) { (try? await stack.get("/healthz"))?.status == 200 }
                try #require(ready, "\(stack.logs)")
                let page = try await stack.send("GET", "/")
                #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8")
                #expect(page.body.contains(#"<script type="module" src="/app/main.js">"#))
                let module = try await stack.send("GET", "/app/main.js")
                #expect(module.status == 200 && module.headers["content-type"] == "text/javascript; charset=utf-8")
                let etag = try #require(module.headers["etag"])
                let again = try await stack.send("GET", "/app/main.js", headers: ["If-None-Match": etag])
                #expect(again.status == 304 && again.body.isEmpty && again.headers["etag"] == etag)
                #expect(try await stack.send("GET", "/favicon.svg").headers["content-type"] == "image/svg+xml")
                let styles = try await stack.send("GET", "/styles.css")
                let head = try await stack.send("HEAD", "/styles.css")
                #expect(head.status == 200 && head.body.isEmpty && head.headers["etag"] == styles.headers["etag"])
                #expect(head.headers["content-length"] == "\(styles.body.utf8.count)" && head.headers["content-type"] == "text/css; charset=utf-8")
                let posted = try await stack.send("POST", "/app/main.js", body: "{}")
                #expect(posted.status == 405 && posted.code == "method_not_allowed")
                #expect(try await stack.send("GET", "/app/missing.js").code == "not_found")
            }
        }
    }
}
