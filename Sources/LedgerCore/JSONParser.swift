/// A strict JSON parser (RFC 8259) over UTF-8 bytes, producing `JSONValue`.
///
/// Strict where it matters for a ledger: invalid UTF-8, duplicate member names, trailing data, nesting
/// deeper than `maximumDepth` and non-integer numbers are refused with the byte offset of the problem.
/// It can also skip a value without building it, which the log uses to read a few envelope fields fast.
public struct JSONParser: ~Copyable {
    public struct SyntaxError: Error, Equatable, CustomStringConvertible {
        public let offset: Int
        public let message: String
        public var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    public static let maximumDepth = 64

    let bytes: UnsafeRawBufferPointer
    public private(set) var position: Int = 0
    private var depth = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Parses one complete JSON text.
    public static func parse(_ bytes: some Collection<UInt8>) throws(SyntaxError) -> JSONValue {
        let array = Array(bytes)
        let result = array.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            return Result { () throws(SyntaxError) in try parser.parseDocument() }
        }
        return try result.get()
    }

    public static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    public mutating func parseDocument() throws(SyntaxError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected data after the JSON value") }
        return value
    }

    // MARK: Values

    public mutating func parseValue() throws(SyntaxError) -> JSONValue {
        skipWhitespace()
        guard position < bytes.count else { throw error("unexpected end of input") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return .object(try parseObject())
        case UInt8(ascii: "["): return .array(try parseArray())
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .int(try parseInteger())
        default: throw error("unexpected character")
        }
    }

    /// Parses an object (at the current position) into its members in document order, without building a
    /// dictionary: the fast path for small objects read by name a few times (event data).
    /// Duplicate names are refused as in `parseObject`.
    public mutating func parseObjectMembers() throws(SyntaxError) -> [(String, JSONValue)] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw error("expected an object") }
        var members: [(String, JSONValue)] = []
        members.reserveCapacity(8)
        // A linear scan while the object is small (event data has a handful of members); a set beyond
        // that, so a hostile object of many members costs linear time, not quadratic.
        var names: Set<String>?
        try parseMembers { key, value in
            if names == nil, members.count >= 16 { names = Set(members.map(\.0)) }
            if names != nil {
                guard names!.insert(key).inserted else { return false }
            } else {
                guard !members.contains(where: { $0.0 == key }) else { return false }
            }
            members.append((key, value))
            return true
        }
        return members
    }

    mutating func parseObject() throws(SyntaxError) -> [String: JSONValue] {
        var members: [String: JSONValue] = [:]
        try parseMembers { key, value in members.updateValue(value, forKey: key) == nil }
        return members
    }

    /// The members of the object at the current position (its `{`), in order; `add` returns false for a
    /// duplicate name, which is refused.
    private mutating func parseMembers(_ add: (String, JSONValue) -> Bool) throws(SyntaxError) {
        try enter()
        defer { depth -= 1 }
        position += 1  // {
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { position += 1; return }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let keyOffset = position
            let key = try parseString()
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            let value = try parseValue()
            guard add(key, value) else { throw SyntaxError(offset: keyOffset, message: "duplicate member name \"\(key)\"") }
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            return
        }
    }

    mutating func parseArray() throws(SyntaxError) -> [JSONValue] {
        try enter()
        defer { depth -= 1 }
        position += 1  // [
        var items: [JSONValue] = []
        skipWhitespace()
        if peek() == UInt8(ascii: "]") { position += 1; return items }
        while true {
            items.append(try parseValue())
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "]"))
            return items
        }
    }

    /// Parses a string at the current position (which must be its opening quote).
    public mutating func parseString() throws(SyntaxError) -> String {
        let start = position
        position += 1
        // Fast path: no escapes.
        var i = position
        var ascii = true
        i = plainRun(from: i, allowingControlAndNonASCII: false)
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<i])
                let s: String
                if ascii {
                    s = String(decoding: slice, as: UTF8.self)  // ASCII is valid UTF-8: skip the validating path
                } else {
                    guard let valid = String(validating: slice, as: UTF8.self) else {
                        throw SyntaxError(offset: start, message: "string is not valid UTF-8")
                    }
                    s = valid
                }
                position = i + 1
                return s
            }
            if b >= 0x80 { ascii = false }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw SyntaxError(offset: i, message: "control character in a string must be escaped") }
            i += 1
        }
        // Slow path with escapes.
        var utf8: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[position..<i]))
        position = i
        while true {
            guard position < bytes.count else { throw SyntaxError(offset: start, message: "unterminated string") }
            let b = bytes[position]
            position += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: utf8, as: UTF8.self) else {
                    throw SyntaxError(offset: start, message: "string is not valid UTF-8")
                }
                return s
            case UInt8(ascii: "\\"):
                guard position < bytes.count else { throw SyntaxError(offset: start, message: "unterminated string") }
                let e = bytes[position]
                position += 1
                switch e {
                case UInt8(ascii: "\""): utf8.append(0x22)
                case UInt8(ascii: "\\"): utf8.append(0x5C)
                case UInt8(ascii: "/"): utf8.append(0x2F)
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(try parseHex4())
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw error("lone high surrogate") }
                        position += 2
                        let low = UInt32(try parseHex4())
                        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("lone low surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid unicode escape") }
                    utf8.append(contentsOf: String(Character(u)).utf8)
                default: throw SyntaxError(offset: position - 1, message: "invalid escape")
                }
            case 0..<0x20:
                throw SyntaxError(offset: position - 1, message: "control character in a string must be escaped")
            default:
                utf8.append(b)
            }
        }
    }

    private mutating func parseHex4() throws(SyntaxError) -> UInt16 {
        guard position + 4 <= bytes.count else { throw error("short unicode escape") }
        var v: UInt16 = 0
        for _ in 0..<4 {
            let c = bytes[position]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in unicode escape")
            }
            v = v << 4 | UInt16(d)
            position += 1
        }
        return v
    }

    /// Parses an integer; fractions and exponents are refused (see `JSONValue`).
    public mutating func parseInteger() throws(SyntaxError) -> Int64 {
        let start = position
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; position += 1 }
        guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw error("expected a digit")
        }
        if first == UInt8(ascii: "0"), position + 1 < bytes.count,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position + 1])
        {
            throw error("leading zero in a number")
        }
        var magnitude: Int64 = 0
        while let c = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
            magnitude = magnitude &* 10 &+ Int64(c - UInt8(ascii: "0"))
            if magnitude > JSONValue.maxSafeInteger {
                throw SyntaxError(offset: start, message: "integer outside ±(2^53 − 1)")
            }
            position += 1
        }
        if let c = peek(), c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") {
            throw SyntaxError(offset: start, message: "only integers are accepted")
        }
        return negative ? -magnitude : magnitude
    }

    /// Skips one value without building it.
    public mutating func skipValue() throws(SyntaxError) {
        skipWhitespace()
        guard let c = peek() else { throw error("unexpected end of input") }
        switch c {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            try enter()
            defer { depth -= 1 }
            let close = c == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            position += 1
            skipWhitespace()
            if peek() == close { position += 1; return }
            while true {
                if close == UInt8(ascii: "}") {
                    skipWhitespace()
                    guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
                    try skipString()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"))
                }
                try skipValue()
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { position += 1; continue }
                try expect(close)
                return
            }
        default: _ = try parseValue()
        }
    }

    private mutating func skipString() throws(SyntaxError) {
        let start = position
        position += 1
        let base = bytes.baseAddress!
        while position < bytes.count {
            // Jump to the next quote (words at a time, then memchr); it ends the string unless an odd
            // run of backslashes escapes it.
            let from = plainRun(from: position, allowingControlAndNonASCII: true)
            guard let found = memchr(base + from, Int32(UInt8(ascii: "\"")), bytes.count - from) else { break }
            let quote = base.distance(to: UnsafeRawPointer(found))
            var backslashes = 0
            while quote - backslashes - 1 >= position, bytes[quote - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            position = quote + 1
            if backslashes % 2 == 0 { return }
        }
        throw SyntaxError(offset: start, message: "unterminated string")
    }

    /// Walks the members of the top-level object, calling `body` with each member's name (as raw bytes,
    /// which for OrgLedger's envelope names never need unescaping) and the parser positioned at its value.
    /// `body` must consume the value (parse or skip it).
    public mutating func forEachMember(
        _ body: (UnsafeRawBufferPointer, inout JSONParser) throws(SyntaxError) -> Void
    ) throws(SyntaxError) {
        skipWhitespace()
        try expect(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { position += 1; return }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let nameStart = position + 1
            try skipString()
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<(position - 1)])
            skipWhitespace()
            try expect(UInt8(ascii: ":"))
            skipWhitespace()
            try body(name, &self)
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            return
        }
    }

    /// Consumes `text` if the input continues with exactly it.
    @inline(__always)
    public mutating func consume(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard position + count <= bytes.count else { return false }
        // Inline, 8 bytes at a time: the literals are short and a replay consumes ten per event.
        let here = bytes.baseAddress! + position, literal = UnsafeRawPointer(text.utf8Start)
        var i = 0
        while i + 8 <= count {
            guard here.loadUnaligned(fromByteOffset: i, as: UInt64.self) == literal.loadUnaligned(fromByteOffset: i, as: UInt64.self) else { return false }
            i += 8
        }
        while i < count {
            guard here.load(fromByteOffset: i, as: UInt8.self) == literal.load(fromByteOffset: i, as: UInt8.self) else { return false }
            i += 1
        }
        position += count
        return true
    }

    /// Moves past a string of 64 lowercase hex digits (a SHA-256 digest) and returns true; false, with
    /// the position unchanged, for anything else.
    public mutating func skipHexDigest() -> Bool {
        guard position + 66 <= bytes.count, bytes[position] == UInt8(ascii: "\""), bytes[position + 65] == UInt8(ascii: "\"") else { return false }
        // Eight digits at a time: every byte in "0"..."9" or "a"..."f" (SWAR range tests: adding 0x80 − lo
        // sets the high bit of bytes ≥ lo, adding 0x80 − (hi + 1) of bytes > hi; all bytes are < 0x80).
        let base = bytes.baseAddress! + position + 1
        for word in 0..<8 {
            let w = base.loadUnaligned(fromByteOffset: word * 8, as: UInt64.self)
            let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
            guard w & high == 0 else { return false }
            let digit = ((w &+ ones &* (0x80 - 0x30)) & ~(w &+ ones &* (0x80 - 0x3A))) & high
            let letter = ((w &+ ones &* (0x80 - 0x61)) & ~(w &+ ones &* (0x80 - 0x67))) & high
            guard digit | letter == high else { return false }
        }
        position += 66
        return true
    }

    /// The content of a string with no escapes (the bytes between its quotes), moving past it; nil,
    /// with the position unchanged, for a string with escapes or control characters, or a non-string:
    /// the caller then parses it in full.
    public mutating func parsePlainStringBytes() -> UnsafeRawBufferPointer? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { return nil }
        var i = plainRun(from: position + 1, allowingControlAndNonASCII: true)
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                let content = UnsafeRawBufferPointer(rebasing: bytes[(position + 1)..<i])
                position = i + 1
                return content
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            i += 1
        }
        return nil
    }

    // MARK: Helpers

    /// Where the first byte at or after `start` that may need a closer look lies, to within 8 bytes:
    /// a quote or a backslash, and unless allowed a control character or a non-ASCII byte. Reads eight
    /// bytes at a time (SWAR: byte b of word w is flagged by (w − 0x01…) & ~w & 0x80… when it is zero);
    /// the caller's byte loop takes over from the returned index.
    @inline(__always)
    private func plainRun(from start: Int, allowingControlAndNonASCII: Bool) -> Int {
        let base = bytes.baseAddress!
        var i = start
        while i + 8 <= bytes.count {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let quote = w ^ 0x2222_2222_2222_2222, backslash = w ^ 0x5C5C_5C5C_5C5C_5C5C
            var flags = ((quote &- 0x0101_0101_0101_0101) & ~quote) | ((backslash &- 0x0101_0101_0101_0101) & ~backslash)
            if !allowingControlAndNonASCII { flags |= ((w &- 0x2020_2020_2020_2020) & ~w) | w }
            if flags & 0x8080_8080_8080_8080 != 0 { break }
            i += 8
        }
        return i
    }

    @inline(__always)
    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    @inline(__always)
    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws(SyntaxError) {
        guard peek() == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
        position += 1
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(SyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count,
            memcmp(bytes.baseAddress! + position, literal.utf8Start, count) == 0
        else { throw error("invalid literal") }
        position += count
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        if depth > Self.maximumDepth { throw error("nesting deeper than \(Self.maximumDepth)") }
    }

    private func error(_ message: String) -> SyntaxError { SyntaxError(offset: position, message: message) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
