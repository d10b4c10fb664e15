import Foundation
import Testing
import TestSupport

/// The deployment files of `deploy/`, checked offline by their own scripts: the systemd units with
/// `systemd-analyze verify` and `security`, the Kubernetes manifests with `kubernetes-validate --strict`
/// and the structural rules of `deploy/k8s/check_manifests.py`.
extension UnderLoadTests.DeploymentTests {
    @Suite("Deployment files", .serialized, .timeLimit(.minutes(3)))
    struct DeployFilesTests {
        static let root = repositoryRoot.path

        /// Runs a check script; exit 77 means the tool it needs is not on this machine.
        func check(_ script: String, _ arguments: [String] = []) async throws -> (status: Int32, output: String) {
            let run = try await runToCompletion("/bin/bash", ["\(Self.root)/\(script)"] + arguments, timeout: .seconds(120))
            print(run.output)
            return (run.status, run.output)
        }

        @Test("the systemd units pass systemd-analyze verify with the built binaries installed, and their exposure is under the threshold",
              .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "systemd-analyze is not installed"))
        func systemdUnits() async throws {
            let result = try await check("deploy/systemd/check.sh", [binaryDirectory()])
            #expect(result.status == 0, "\(result.output)")
        }

        @Test("the Grafana dashboard is JSON whose every query reads only metrics the README names")
        func grafanaDashboard() throws {
            let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("deploy/grafana/launch-day.json"))
            let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let panels = try #require(dashboard["panels"] as? [[String: Any]])
            let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
            #expect(panels.count >= 10 && expressions.count >= panels.count)
            let named = Set(try ObservabilityTests.metricsNamedInREADME())
            var used: Set<String> = []
            for expression in expressions {
                // What is left once label lists, matchers, ranges and function names are gone: metric names.
                var rest = expression
                for pattern in [#"(by|without)\s*\([^)]*\)"#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#, #"[a-z_]+\s*\("#, #"[0-9.]+"#] {
                    rest = rest.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
                }
                let metrics = rest.split { !($0.isLetter || $0 == "_" || $0.isNumber) }.map(String.init)
                #expect(!metrics.isEmpty, "\(expression)")
                for metric in metrics {
                    let family = ["_bucket", "_sum", "_count"].first { metric.hasSuffix($0) }.map { String(metric.dropLast($0.count)) } ?? metric
                    #expect(named.contains(family), "\(expression) reads \(metric), which the README does not name")
                    used.insert(family)
                }
            }
            #expect(used.count >= 15, "the dashboard shows \(used.sorted())")
        }

        @Test("the Kubernetes manifests pass kubernetes-validate --strict and the structural checks")
        func kubernetesManifests() async throws {
            let result = try await check("deploy/k8s/check.sh")
            #expect(result.status == 0, "\(result.output)")
        }
    }
}

/// The suites that run whole stacks under load, one after another: the box-office page in a
/// browser, the load generator, and the deployment suites (readiness, stateless gateways, graceful
/// stop, backups, several hosts, the deploy files). On two cores, run at once they would starve
/// each other and the timing-sensitive suites beside them (an RPC deadline of 300 ms measured as 2 s).
@Suite("Whole stacks under load, one suite at a time", .serialized)
struct UnderLoadTests {}

extension UnderLoadTests {
    @Suite("Deployment")
    struct DeploymentTests {}
}
