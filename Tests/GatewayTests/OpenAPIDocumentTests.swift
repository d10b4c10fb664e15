import Foundation
import Testing
import TestSupport
@testable import GatewayService

@Suite("The OpenAPI document")
struct OpenAPIDocumentTests {
    /// Where `make test` puts openapi-spec-validator (a project-local virtual environment).
    static let root = repositoryRoot
    static let validator = ProcessInfo.processInfo.environment["OPENAPI_SPEC_VALIDATOR"]
        ?? venvTool("openapi-spec-validator")

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

@Suite("The OpenAPI document in YAML")
struct OpenAPIYAMLTests {
    static let python = venvTool("python")

    @Test("nested objects, arrays of objects, empty containers and every kind of scalar, in block style and in order")
    func shapes() throws {
        let yaml = YAMLRendering.render(json: #"{"b": {"x": [1, {"k": "v", "no": null}, []], "e": {}}, "200": "t\"q", "/p/{id}": [[true, false]]}"#)
        #expect(yaml == """
            b:
              x:
                - 1
                - k: "v"
                  "no": null
                - []
              e: {}
            "200": "t\\"q"
            /p/{id}:
              - - true
                - false

            """)
    }

    @Test("refuses what is not JSON")
    func refuses() {
        #expect(throws: YAMLRendering.ParseError.self) { try YAMLRendering.parse(#"{"a": 1,}"#) }
        #expect(throws: YAMLRendering.ParseError.self) { try YAMLRendering.parse(#"{"a": nope}"#) }
        #expect(throws: YAMLRendering.ParseError.self) { try YAMLRendering.parse(#"["a"] x"#) }
    }

    @Test("reads back (PyYAML) as exactly the JSON document, and is a valid OpenAPI document",
          .enabled(if: FileManager.default.isExecutableFile(atPath: OpenAPIYAMLTests.python)
                   && FileManager.default.isExecutableFile(atPath: OpenAPIDocumentTests.validator),
                   "make test installs PyYAML and openapi-spec-validator into .venv"))
    func readsBack() async throws {
        let folder = try TemporaryDirectory("openapi-yaml")
        defer { folder.remove() }
        try OpenAPIDocument.json.write(toFile: folder.file("openapi.json"), atomically: true, encoding: .utf8)
        try OpenAPIDocument.yaml.write(toFile: folder.file("openapi.yaml"), atomically: true, encoding: .utf8)
        let compare = """
            import json, sys, yaml
            a = json.load(open(sys.argv[1])); b = yaml.safe_load(open(sys.argv[2]))
            print("same" if a == b else "different"); sys.exit(0 if a == b else 1)
            """
        try compare.write(toFile: folder.file("compare.py"), atomically: true, encoding: .utf8)
        let same = try await runToCompletion(Self.python, [folder.file("compare.py"), folder.file("openapi.json"), folder.file("openapi.yaml")],
                                             timeout: .seconds(60))
        #expect(same.status == 0 && same.output.contains("same"), "\(same.output)")
        let valid = try await runToCompletion(OpenAPIDocumentTests.validator, [folder.file("openapi.yaml")], timeout: .seconds(60))
        #expect(valid.status == 0 && valid.output.contains("OK"), "\(valid.output)")
    }
}
