import Foundation

/// A normalized email address, the one spelling of a mailbox everywhere (commands, reads, paging, keys):
/// trimmed, lower-cased, Unicode NFC, at most 254 UTF-8 bytes, exactly one `@`, a non-empty local part
/// and a domain with a dot (no empty labels); no white space, control, format, invisible or bidi
/// characters (`TextRules.isForbiddenInIdentifier`).
///
/// Internationalized domains are stored in their Unicode form: a label written as `xn--…` (punycode,
/// RFC 3492) is decoded, so `ada@xn--mnchen-3ya.de` and `ada@münchen.de` are one address. A label that
/// is not valid punycode, or does not decode to a lower-case NFC label, is refused.
public struct Email: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: String

    /// In UTF-8 bytes (RFC 5321's 254-octet path limit), not characters: one character can be many bytes.
    public static let maximumBytes = 254

    public static func parse(_ raw: String, field: String = "email") -> Result<Email, FieldError> {
        if let email = plainASCII(raw) { return .success(email) }
        return parseFully(raw, field: field)
    }

    /// Every rule, for any input (`parse` takes a shortcut for plain ASCII; a test checks they agree).
    static func parseFully(_ raw: String, field: String = "email") -> Result<Email, FieldError> {
        func fail(_ message: String) -> Result<Email, FieldError> { .failure(FieldError(field: field, message: message)) }
        let tooLong = "must be at most \(maximumBytes) bytes of UTF-8"
        // Far over the limit: refused before any Unicode work on it.
        guard raw.utf8.count <= 4 * maximumBytes else { return fail(tooLong) }
        let trimmed = raw.trimmingWhitespace()
        guard !trimmed.isEmpty else { return fail("must not be empty") }
        guard !trimmed.unicodeScalars.contains(where: TextRules.isForbiddenInIdentifier) else {
            return fail("must not contain spaces, control, format, invisible or bidi characters")
        }
        // ASCII is its own NFC and NFKC: skip Foundation's normalization for the common case.
        let ascii = trimmed.utf8.allSatisfy { $0 < 0x80 }
        let normalized = ascii ? trimmed.lowercased() : TextRules.nfc(trimmed.lowercased())
        // Split on scalars, not characters: `@` or `.` followed by a combining mark is one Character
        // that is neither, yet it is an `@` or a `.` to everything downstream.
        let parts = normalized.unicodeScalars.split(separator: "@", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        guard parts.count == 2 else { return fail("must contain exactly one '@'") }
        let (local, domain) = (parts[0], parts[1])
        guard !local.isEmpty else { return fail("the part before '@' must not be empty") }
        let labels = domain.unicodeScalars.split(separator: ".", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        guard labels.count >= 2, !labels.contains(where: \.isEmpty) else {
            return fail("the domain must contain a dot and no empty labels")
        }
        // A part that starts with a combining mark has nothing to combine with: it is a mark stuck to the
        // `@` or `.` before it, a look-alike of another address.
        if ([local] + labels).contains(where: { $0.unicodeScalars.first.map(TextRules.isMark) ?? false }) {
            return fail("no part of it may start with a combining mark")
        }
        var unicodeLabels: [String] = []
        for label in labels {
            guard label.hasPrefix("xn--") else {
                unicodeLabels.append(label)
                continue
            }
            // Bytes, not Swift's `==` (which equates NFC and NFD): an A-label must decode to the one
            // spelling, or `xn--munchen-gie` would store an NFD `münchen` beside the NFC one.
            guard let decoded = Punycode.decode(label.dropFirst(4)), decoded.unicodeScalars.contains(where: { !$0.isASCII }),
                decoded.utf8.elementsEqual(TextRules.domainLabel(decoded).utf8),
                !decoded.unicodeScalars.contains(where: TextRules.isForbiddenInIdentifier)
            else { return fail("the domain label '\(label)' is not a valid internationalized label") }
            unicodeLabels.append(decoded)
        }
        // A domain has one spelling: no fullwidth or other compatibility forms (`ｅｘａｍｐｌｅ.com` is
        // `example.com` to browsers and mail software; IDNA2008 refuses it).
        if !ascii || !unicodeLabels.isEmpty && labels.contains(where: { $0.hasPrefix("xn--") }),
            let label = unicodeLabels.first(where: { !$0.utf8.elementsEqual(TextRules.domainLabel($0).utf8) })
        {
            return fail("the domain label '\(label)' is not in its one spelling (NFKC, lower case)")
        }
        let value = local + "@" + unicodeLabels.joined(separator: ".")
        guard value.utf8.count <= maximumBytes else { return fail(tooLong) }
        return .success(Email(trusted: value))
    }

    /// The common case on bytes alone: a valid address of printable ASCII with no `xn--` label (ASCII is
    /// its own NFC and NFKC, and has no combining marks). nil for anything else, which `parse` then
    /// checks in full (and words the refusal): the same answer, without its Unicode work (the writer
    /// parses every invited email; the full path showed as a quarter of its time in the benchmark).
    static func plainASCII(_ raw: String) -> Email? {
        var bytes = Array(raw.utf8)
        guard bytes.count <= 4 * maximumBytes, bytes.allSatisfy({ $0 < 0x80 }) else { return nil }
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        while let last = bytes.last, isSpace(last) { bytes.removeLast() }
        let start = bytes.firstIndex(where: { !isSpace($0) }) ?? bytes.endIndex
        bytes.removeSubrange(..<start)
        guard !bytes.isEmpty, bytes.count <= maximumBytes, !bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return nil }
        for i in bytes.indices where (0x41...0x5A).contains(bytes[i]) { bytes[i] += 0x20 }
        let parts = bytes.split(separator: UInt8(ascii: "@"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        let labels = parts[1].split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2, !labels.contains(where: { $0.isEmpty || $0.starts(with: "xn--".utf8) }) else { return nil }
        return Email(trusted: String(decoding: bytes, as: UTF8.self))
    }

    /// For values read back from the log, which were validated when written.
    public init(trusted value: String) { self.value = value }

    public var description: String { value }

    // Equality, hashing and order are of the UTF-8 bytes, as LMDB keys and cursors compare: Swift's
    // `String` equality is canonical equivalence, under which an NFD spelling would equal the NFC one in
    // memory while being another key on disk.
    // (memcmp over the contiguous UTF-8: the writer compares emails in loops, e.g. finding a pending
    // invitation, and a byte-by-byte generic loop there showed in the command benchmark.)
    public static func == (a: Email, b: Email) -> Bool {
        var (x, y) = (a.value, b.value)
        return x.withUTF8 { p in y.withUTF8 { q in p.count == q.count && (p.isEmpty || memcmp(p.baseAddress!, q.baseAddress!, p.count) == 0) } }
    }
    public func hash(into hasher: inout Hasher) {
        var bytes = value
        bytes.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
    public static func < (a: Email, b: Email) -> Bool { TextRules.bytesPrecede(a.value, b.value) }
}

/// RFC 3492 punycode, decoding only: what turns an `xn--` domain label into its Unicode form.
enum Punycode {
    private static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700

    /// The Unicode label a punycode string (without `xn--`) encodes, or nil if it is not valid punycode.
    static func decode(_ input: Substring) -> String? {
        let scalars = Array(input.unicodeScalars)
        guard scalars.allSatisfy(\.isASCII) else { return nil }
        var output: [Unicode.Scalar] = []
        var position = 0
        if let delimiter = scalars.lastIndex(of: "-") {
            output = Array(scalars[..<delimiter])
            position = delimiter + 1
        }
        var n = 128, i = 0, bias = 72
        while position < scalars.count {
            let oldI = i
            var weight = 1, k = base
            while true {
                guard position < scalars.count, let digit = digitValue(scalars[position]) else { return nil }
                position += 1
                let (product, o1) = digit.multipliedReportingOverflow(by: weight)
                let (sum, o2) = i.addingReportingOverflow(product)
                guard !o1, !o2 else { return nil }
                i = sum
                let t = k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
                if digit < t { break }
                let (nextWeight, o3) = weight.multipliedReportingOverflow(by: base - t)
                guard !o3 else { return nil }
                weight = nextWeight
                k += base
            }
            bias = adapt(i - oldI, points: output.count + 1, first: oldI == 0)
            let (nextN, o4) = n.addingReportingOverflow(i / (output.count + 1))
            guard !o4, nextN < 0x11_0000, let scalar = Unicode.Scalar(UInt32(nextN)) else { return nil }
            n = nextN
            i %= output.count + 1
            output.insert(scalar, at: i)
            i += 1
        }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: output)
        return String(text)
    }

    private static func digitValue(_ scalar: Unicode.Scalar) -> Int? {
        switch scalar.value {
        case 0x61...0x7A: Int(scalar.value - 0x61)
        case 0x41...0x5A: Int(scalar.value - 0x41)
        case 0x30...0x39: Int(scalar.value - 0x30) + 26
        default: nil
        }
    }

    private static func adapt(_ delta: Int, points: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / points
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }
}

extension String {
    /// Trims Unicode white space (and newlines) at both ends, without Foundation.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}
