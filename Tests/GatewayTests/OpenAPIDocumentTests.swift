import Foundation
import Testing
import TestSupport
@testable import GatewayService

@Suite("The OpenAPI document")
struct OpenAPIDocumentTests {
    /// Where `make test` puts openapi-spec-validator (a project-local virtual environment).
    static let validator: String = {
        if let path = ProcessInfo.processInfo.environment["OPENAPI_SPEC_VALIDATOR"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".venv/bin/openapi-spec-validator").path
    }()

    static func operations() throws -> Set<String> {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        return Set(paths.flatMap { path, operations in operations.keys.map { "\($0.uppercased()) \(path)" } })
    }

    @Test("lists exactly the operations the gateway serves, no more and no fewer")
    func matchesTheRoutes() throws {
        let served = Set(servedRoutes.map { route in
            let path = route.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
            return "\(route.method) /\(path)"
        })
        let documented = try Self.operations()
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
        #expect(served.subtracting(documented).isEmpty, "served but not documented: \(served.subtracting(documented).sorted())")
    }

    @Test("is a valid OpenAPI 3.1 document (openapi-spec-validator)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: OpenAPIDocumentTests.validator),
                   "make test installs openapi-spec-validator into .venv"))
    func validates() async throws {
        let folder = try TemporaryDirectory("openapi")
        defer { folder.remove() }
        let file = folder.file("openapi.json")
        try OpenAPIDocument.json.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await runToCompletion(Self.validator, [file], timeout: .seconds(60))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("OK"), "\(result.output)")
    }
}
