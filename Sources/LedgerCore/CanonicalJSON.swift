#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The JSON Canonicalization Scheme (RFC 8785) for `JSONValue`: members sorted by the UTF-16 code units of
/// their names, no insignificant whitespace, the minimal string escapes of ECMAScript's `JSON.stringify`,
/// and integers in plain decimal. The bytes are what OrgLedger hashes and stores.
public enum CanonicalJSON {
    public struct EncodingError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static func encode(_ value: JSONValue) throws(EncodingError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        try write(value, into: &out)
        return out
    }

    public static func write(_ value: JSONValue, into out: inout [UInt8]) throws(EncodingError) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let n): try writeInteger(n, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, key) in sortedKeys(members).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                try write(members[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Member names in RFC 8785 order: by UTF-16 code units, not by Swift's `String` ordering.
    public static func sortedKeys(_ members: [String: JSONValue]) -> [String] {
        members.keys.sorted(by: precedes)
    }

    /// UTF-16 order. It equals UTF-8 byte order except where a character at or above U+E000 meets one
    /// outside the Basic Multilingual Plane (surrogate pairs sort below U+E000); UTF-8 lead bytes of
    /// 0xEE and above mark both, and only then is the slower UTF-16 comparison needed.
    @inline(__always)
    static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                if !x.contains(where: { $0 >= 0xEE }) || !y.contains(where: { $0 >= 0xEE }) {
                    let n = min(x.count, y.count)
                    let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                    return c != 0 ? c < 0 : x.count < y.count
                }
                return String(decoding: x, as: UTF8.self).utf16.lexicographicallyPrecedes(String(decoding: y, as: UTF8.self).utf16)
            }
        }
    }

    public static func writeInteger(_ n: Int64, into out: inout [UInt8]) throws(EncodingError) {
        guard n >= -JSONValue.maxSafeInteger, n <= JSONValue.maxSafeInteger else {
            throw EncodingError(message: "integer \(n) is outside ±(2^53 − 1) and has no canonical JSON form")
        }
        writeDigits(n, into: &out)
    }

    public static func writeDigits(_ n: Int64, into out: inout [UInt8]) {
        if n == 0 { out.append(UInt8(ascii: "0")); return }
        var magnitude = n.magnitude
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes hold any UInt64 in decimal
        withUnsafeMutableBytes(of: &buffer) { digits in
            var i = digits.count
            while magnitude > 0 {
                i -= 1
                digits[i] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            out.append(contentsOf: digits[i...])
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Fast path: most strings need no escape and are copied whole.
        var copy = s
        let clean = copy.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if clean {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x00..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
