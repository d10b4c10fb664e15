import Foundation

/// Renders a JSON document as block-style YAML, keeping the order of its keys (Foundation's JSON
/// parser would lose it, and an OpenAPI document reads best in the order it was written). String
/// values stay JSON-quoted: JSON's escapes are YAML's double-quoted escapes, so nothing needs
/// re-escaping and no string can be mistaken for a number, a boolean or null. Keys lose their
/// quotes only where YAML reads the bare word back as the same string.
enum YAMLRendering {
    indirect enum Node {
        /// Keys as spelled in JSON, quotes and escapes included.
        case object([(key: String, value: Node)])
        case array([Node])
        /// A scalar as it is spelled in JSON: a quoted string, a number, true, false or null.
        case scalar(String)
    }

    struct ParseError: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "not JSON at byte \(offset)" }
    }

    /// The YAML form of `json`. The document is this program's own, tested to be JSON, so a parse
    /// failure is a bug: `buildApplication` renders it before serving, so the gateway refuses to
    /// start rather than fail on a client's request.
    static func render(json: String) -> String {
        do {
            return render(try parse(json))
        } catch {
            preconditionFailure("OpenAPIDocument.json: \(error)")
        }
    }

    static func render(_ node: Node) -> String {
        lines(node, indent: 0).joined(separator: "\n") + "\n"
    }

    // MARK: Writing

    private static func lines(_ node: Node, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch node {
        case .scalar(let text):
            return [pad + text]
        case .object(let members) where members.isEmpty:
            return [pad + "{}"]
        case .array(let items) where items.isEmpty:
            return [pad + "[]"]
        case .object(let members):
            return members.flatMap { key, value -> [String] in
                let name = pad + plain(key) + ":"
                if let inline = inline(value) { return [name + " " + inline] }
                return [name] + lines(value, indent: indent + 2)
            }
        case .array(let items):
            return items.flatMap { item -> [String] in
                if let inline = inline(item) { return [pad + "- " + inline] }
                // The item's first line moves up beside the dash; the rest keep its indent.
                var block = lines(item, indent: indent + 2)
                block[0] = pad + "- " + block[0].dropFirst(indent + 2)
                return block
            }
        }
    }

    /// A key without its quotes when YAML reads it back as the same string: letters, digits and
    /// path punctuation, not starting with a digit, and not a word YAML takes for a boolean or null.
    private static func plain(_ key: String) -> String {
        let inner = key.dropFirst().dropLast()
        guard let first = inner.first, first.isASCII, first.isLetter || first == "/" || first == "$",
              inner.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_./{}$-".contains($0)) }),
              !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(inner.lowercased())
        else { return key }
        return String(inner)
    }

    /// A value written on its key's line: a scalar, or an empty object or array.
    private static func inline(_ node: Node) -> String? {
        switch node {
        case .scalar(let text): text
        case .object(let members) where members.isEmpty: "{}"
        case .array(let items) where items.isEmpty: "[]"
        default: nil
        }
    }

    // MARK: Reading

    static func parse(_ json: String) throws -> Node {
        var reader = Reader(bytes: Array(json.utf8))
        let node = try reader.value()
        reader.skipSpace()
        guard reader.atEnd else { throw ParseError(offset: reader.position) }
        return node
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position >= bytes.count }

        mutating func skipSpace() {
            while !atEnd, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[position]) { position += 1 }
        }

        mutating func expect(_ byte: UInt8) throws {
            skipSpace()
            guard !atEnd, bytes[position] == byte else { throw ParseError(offset: position) }
            position += 1
        }

        mutating func value() throws -> Node {
            skipSpace()
            guard !atEnd else { throw ParseError(offset: position) }
            switch bytes[position] {
            case UInt8(ascii: "{"):
                position += 1
                var members: [(key: String, value: Node)] = []
                skipSpace()
                if !atEnd, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                repeat {
                    skipSpace()
                    let key = try string()
                    try expect(UInt8(ascii: ":"))
                    members.append((key, try value()))
                    skipSpace()
                } while try separator(closing: UInt8(ascii: "}"))
                return .object(members)
            case UInt8(ascii: "["):
                position += 1
                var items: [Node] = []
                skipSpace()
                if !atEnd, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                repeat {
                    items.append(try value())
                    skipSpace()
                } while try separator(closing: UInt8(ascii: "]"))
                return .array(items)
            case UInt8(ascii: "\""):
                return .scalar(try string())
            default:
                // A number, true, false or null: kept as spelled.
                let start = position
                while !atEnd, !",]} \n\r\t".utf8.contains(bytes[position]) { position += 1 }
                let word = String(decoding: bytes[start..<position], as: UTF8.self)
                guard ["true", "false", "null"].contains(word) || Double(word) != nil else { throw ParseError(offset: start) }
                return .scalar(word)
            }
        }

        /// After a member or item: true on a comma, false on the closing bracket.
        mutating func separator(closing: UInt8) throws -> Bool {
            guard !atEnd else { throw ParseError(offset: position) }
            let byte = bytes[position]
            position += 1
            if byte == UInt8(ascii: ",") { return true }
            if byte == closing { return false }
            throw ParseError(offset: position - 1)
        }

        /// A JSON string as spelled, quotes included (checked to decode); `position` ends past its closing quote.
        mutating func string() throws -> String {
            guard !atEnd, bytes[position] == UInt8(ascii: "\"") else { throw ParseError(offset: position) }
            let start = position
            position += 1
            while !atEnd, bytes[position] != UInt8(ascii: "\"") {
                position += bytes[position] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard !atEnd else { throw ParseError(offset: start) }
            position += 1
            let literal = String(decoding: bytes[start..<position], as: UTF8.self)
            guard (try? JSONDecoder().decode(String.self, from: Data(literal.utf8))) != nil else {
                throw ParseError(offset: start)
            }
            return literal
        }
    }
}
