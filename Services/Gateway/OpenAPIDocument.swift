import Foundation
import Messaging
import Yams

/// The OpenAPI 3.1 document of the whole HTTP API: `openapi.yaml` in the gateway's resources, read
/// with Yams at start-up and served as written at `GET /openapi.yaml` and as JSON at
/// `GET /openapi.json`, keys in the file's order. `OpenAPIDocumentTests` checks that it lists the
/// operations the routes serve, and `make test` validates both forms with openapi-spec-validator.
struct OpenAPIDocument: Sendable {
    /// The file, byte for byte.
    let yaml: String
    /// The same document as JSON, two spaces an indent.
    let json: String

    struct Invalid: Error, CustomStringConvertible {
        let reason: String
        var description: String { "openapi.yaml: \(reason)" }
    }

    /// The document shipped with the gateway. A gateway whose document does not read refuses to
    /// start, rather than fail on the request that asks for it.
    static func bundled() throws -> OpenAPIDocument {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw Invalid(reason: "not in the gateway's resource bundle")
        }
        return try OpenAPIDocument(yaml: String(contentsOf: url, encoding: .utf8))
    }

    init(yaml: String) throws {
        guard let root = try Yams.compose(yaml: yaml) else { throw Invalid(reason: "the file is empty") }
        self.yaml = yaml
        var json = ""
        try Self.write(root, depth: 0, to: &json)
        self.json = json + "\n"
    }

    /// Writes `node` as JSON. A scalar's type is the one YAML resolves for it (a quoted `"200"`
    /// stays a string, a bare `200` is a number), mappings keep their order, an alias is its
    /// anchor's value (Yams substitutes it), and what JSON cannot say (a key that is not a
    /// string, NaN) is refused.
    private static func write(_ node: Node, depth: Int, to out: inout String) throws {
        let indent = String(repeating: "  ", count: depth + 1), closing = String(repeating: "  ", count: depth)
        switch node {
        case .mapping(let mapping):
            guard !mapping.isEmpty else { out += "{}"; return }
            out += "{\n"
            for (index, pair) in mapping.enumerated() {
                guard case .scalar(let key) = pair.key else { throw Invalid(reason: "a key that is not a string at line \(pair.key.mark?.line ?? 0)") }
                out += indent + JSONText.quoted(key.string) + ": "
                try write(pair.value, depth: depth + 1, to: &out)
                out += index == mapping.count - 1 ? "\n" : ",\n"
            }
            out += closing + "}"
        case .sequence(let sequence):
            guard !sequence.isEmpty else { out += "[]"; return }
            out += "[\n"
            for (index, element) in sequence.enumerated() {
                out += indent
                try write(element, depth: depth + 1, to: &out)
                out += index == sequence.count - 1 ? "\n" : ",\n"
            }
            out += closing + "]"
        case .scalar(let scalar):
            out += try scalarJSON(node, scalar)
        case .alias:
            // Yams's composer substitutes aliases; one left over has no value to write.
            throw Invalid(reason: "an unresolved alias at line \(node.mark?.line ?? 0)")
        }
    }

    private static func scalarJSON(_ node: Node, _ scalar: Node.Scalar) throws -> String {
        switch Tag.Name(rawValue: node.tag.rawValue) {
        case .null: return "null"
        case .bool:
            guard let value = node.bool else { break }
            return value ? "true" : "false"
        case .int:
            guard let value = node.int else { break }
            return String(value)
        case .float:
            guard let value = node.float, value.isFinite else { break }
            return String(value)
        case .str: return JSONText.quoted(scalar.string)
        default: break
        }
        throw Invalid(reason: "\(scalar.string) (\(node.tag)) has no JSON form; quote it to make it a string")
    }
}
