import Foundation

/// Where each member of a JSON object lies in its bytes, without decoding the values: what lets a
/// caller pass a reply's part on unchanged (the gateway forwards a seat map's seats as concert
/// encoded them) instead of decoding it into types only to encode it again.
///
/// It checks the object's structure (strings, nesting, separators), not every value's grammar, so
/// it is meant for bytes a service of this project wrote, not for what a client sends.
package enum JSONFields {
    /// The byte range of each top-level member's value, by key, or nil when `object` is not one
    /// JSON object. A key named twice keeps its last value, as JSONDecoder does. Keys with escapes
    /// are read as written (this project's keys have none).
    package static func ranges(in object: Data) -> [String: Range<Int>]? {
        object.withUnsafeBytes { raw -> [String: Range<Int>]? in
            let bytes = raw.bindMemory(to: UInt8.self)
            var index = 0
            var fields: [String: Range<Int>] = [:]
            skipSpace(bytes, &index)
            guard next(bytes, &index, is: "{") else { return nil }
            skipSpace(bytes, &index)
            if next(bytes, &index, is: "}") { return trailingSpaceOnly(bytes, index) ? fields : nil }
            while true {
                skipSpace(bytes, &index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""),
                      let keyEnd = endOfString(bytes, from: index) else { return nil }
                guard let key = String(validating: bytes[(index + 1)..<(keyEnd - 1)], as: UTF8.self) else { return nil }
                index = keyEnd
                skipSpace(bytes, &index)
                guard next(bytes, &index, is: ":") else { return nil }
                skipSpace(bytes, &index)
                let start = index
                guard let end = endOfValue(bytes, from: index) else { return nil }
                fields[key] = start..<end
                index = end
                skipSpace(bytes, &index)
                if next(bytes, &index, is: ",") { continue }
                guard next(bytes, &index, is: "}") else { return nil }
                return trailingSpaceOnly(bytes, index) ? fields : nil
            }
        }
    }

    /// The bytes of a member's value, by its range from `ranges(in:)` (offsets from the object's start).
    package static func value(_ key: String, in object: Data, ranges: [String: Range<Int>]) -> Data? {
        guard let range = ranges[key] else { return nil }
        return object[(object.startIndex + range.lowerBound)..<(object.startIndex + range.upperBound)]
    }

    /// A member that is a JSON integer.
    package static func integer(_ key: String, in object: Data, ranges: [String: Range<Int>]) -> Int64? {
        guard let bytes = value(key, in: object, ranges: ranges), bytes.count <= 20 else { return nil }
        return Int64(String(decoding: bytes, as: UTF8.self))
    }

    // MARK: Scanning

    private static func skipSpace(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    private static func next(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int, is character: Unicode.Scalar) -> Bool {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else { return false }
        index += 1
        return true
    }

    private static func trailingSpaceOnly(_ bytes: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        var index = index
        skipSpace(bytes, &index)
        return index == bytes.count
    }

    /// The index just past the string opening at `start` (its closing quote included).
    private static func endOfString(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var index = start + 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""): return index + 1
            case UInt8(ascii: "\\"): index += 2
            case 0..<0x20: return nil
            default: index += 1
            }
        }
        return nil
    }

    /// The index just past the value starting at `start`: a string, an object or array (brackets
    /// matched, strings inside skipped whole), or a number or literal (up to the next separator).
    private static func endOfValue(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return endOfString(bytes, from: start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var closers: [UInt8] = []
            var index = start
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    guard let end = endOfString(bytes, from: index) else { return nil }
                    index = end
                    continue
                case UInt8(ascii: "{"): closers.append(UInt8(ascii: "}"))
                case UInt8(ascii: "["): closers.append(UInt8(ascii: "]"))
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    guard closers.popLast() == bytes[index] else { return nil }
                    if closers.isEmpty { return index + 1 }
                default: break
                }
                index += 1
            }
            return nil
        default:
            var index = start
            while index < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) {
                index += 1
            }
            return index > start ? index : nil
        }
    }
}
