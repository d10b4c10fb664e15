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
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bundled().json.utf8)) as? [String: Any])
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

    @Test("both forms, the file and the JSON made from it, are valid OpenAPI 3.1 (openapi-spec-validator)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: OpenAPIDocumentTests.validator),
                   "make test installs openapi-spec-validator into .venv"))
    func validates() async throws {
        let folder = try TemporaryDirectory("openapi")
        defer { folder.remove() }
        let document = try OpenAPIDocument.bundled()
        try document.json.write(toFile: folder.file("openapi.json"), atomically: true, encoding: .utf8)
        try document.yaml.write(toFile: folder.file("openapi.yaml"), atomically: true, encoding: .utf8)
        for file in ["openapi.json", "openapi.yaml"] {
            let result = try await runToCompletion(Self.validator, [folder.file(file)], timeout: .seconds(60))
            #expect(result.status == 0 && result.output.contains("OK"), "\(file): \(result.output)")
        }
    }
}

@Suite("The OpenAPI document: from YAML to JSON")
struct OpenAPIConversionTests {
    static let python = venvTool("python")

    @Test("every kind of scalar as YAML resolves it, nested and empty containers, keys in the file's order")
    func shapes() throws {
        let document = try OpenAPIDocument(yaml: """
            # a comment
            b:
              x: [1, {k: v, "no": null, n: ~}, []]
              e: {}
            '200': "t\\"q\\u00e9"
            /p/{id}:
            - - true
              - false
            - 2.5
            - "3"
            - 김민지
            a: |
              two
              lines
            """)
        #expect(document.json == """
            {
              "b": {
                "x": [
                  1,
                  {
                    "k": "v",
                    "no": null,
                    "n": null
                  },
                  []
                ],
                "e": {}
              },
              "200": "t\\"q\u{e9}",
              "/p/{id}": [
                [
                  true,
                  false
                ],
                2.5,
                "3",
                "김민지"
              ],
              "a": "two\\nlines"
            }

            """)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(document.json.utf8)) as? [String: Any])
        #expect(parsed["200"] as? String == "t\"q\u{e9}")
        // An alias stands for its anchor's value, written out.
        #expect(try OpenAPIDocument(yaml: "a: &x {k: 1}\nb: *x\n").json == "{\n  \"a\": {\n    \"k\": 1\n  },\n  \"b\": {\n    \"k\": 1\n  }\n}\n")
    }

    @Test("refuses what JSON cannot say (a key that is not a string, NaN), an empty file, and what is not YAML")
    func refuses() {
        #expect(throws: OpenAPIDocument.Invalid.self) { try OpenAPIDocument(yaml: "? [1, 2]\n: v\n") }
        #expect(throws: OpenAPIDocument.Invalid.self) { try OpenAPIDocument(yaml: "a: .nan\n") }
        #expect(throws: OpenAPIDocument.Invalid.self) { try OpenAPIDocument(yaml: "") }
        #expect(throws: (any Error).self) { try OpenAPIDocument(yaml: "a: [1, 2\n") }
    }

    @Test("the JSON served reads back (Python's json and PyYAML) as exactly the file, in the same order",
          .enabled(if: FileManager.default.isExecutableFile(atPath: OpenAPIConversionTests.python), "make test installs PyYAML into .venv"))
    func readsBack() async throws {
        let folder = try TemporaryDirectory("openapi-yaml")
        defer { folder.remove() }
        let document = try OpenAPIDocument.bundled()
        try document.json.write(toFile: folder.file("openapi.json"), atomically: true, encoding: .utf8)
        try document.yaml.write(toFile: folder.file("openapi.yaml"), atomically: true, encoding: .utf8)
        let compare = """
            import json, sys, yaml
            def ordered(value):
                if isinstance(value, dict): return [(k, ordered(v)) for k, v in value.items()]
                if isinstance(value, list): return [ordered(v) for v in value]
                return (type(value).__name__, value)
            a = json.load(open(sys.argv[1])); b = yaml.safe_load(open(sys.argv[2]))
            same = ordered(a) == ordered(b)
            print("same" if same else "different"); sys.exit(0 if same else 1)
            """
        try compare.write(toFile: folder.file("compare.py"), atomically: true, encoding: .utf8)
        let same = try await runToCompletion(Self.python, [folder.file("compare.py"), folder.file("openapi.json"), folder.file("openapi.yaml")],
                                             timeout: .seconds(60))
        #expect(same.status == 0 && same.output.contains("same"), "\(same.output)")
    }
}
