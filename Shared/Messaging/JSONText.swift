/// JSON text written by hand where a whole encoder would be too much: the envelope's strings, log
/// lines, the OpenAPI document's JSON form, the events file.
package enum JSONText {
    /// `text` as a JSON string: quotes, backslashes and control characters escaped (RFC 8259 §7),
    /// everything else as it is.
    package static func quoted(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
