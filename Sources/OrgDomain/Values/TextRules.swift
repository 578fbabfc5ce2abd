import Foundation

/// The character rules every text value shares: one home for "which scalars may a stored value hold".
///
/// Why these: control characters break logs and CSV; format, invisible and default-ignorable scalars
/// (U+200B, U+2060, U+FEFF, …) make two values that look the same compare different; line and paragraph
/// separators break line-based formats; bidi controls make a value display as something it is not.
public enum TextRules {
    /// Scalars no identifier (email, header value) may contain: white space, Cc, Cf, Zl, Zp, default
    /// ignorables and bidi controls.
    public static func isForbiddenInIdentifier(_ scalar: Unicode.Scalar) -> Bool {
        // U+FFFD stands where bytes were not UTF-8 (a Latin-1 header): never part of a real address.
        if scalar == "\u{FFFD}" { return true }
        let p = scalar.properties
        if p.isWhitespace || p.isDefaultIgnorableCodePoint || p.isBidiControl { return true }
        switch p.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Scalars no display text (names) may contain: controls (C0, C1, DEL), line and paragraph separators,
    /// bidi controls. Joiners stay allowed: emoji sequences need U+200D.
    public static func isForbiddenInDisplayText(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isBidiControl { return true }
        switch p.generalCategory {
        case .control, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// Whether a scalar shows as something on its own: not white space, not a mark, format or
    /// default-ignorable scalar. A name needs at least one.
    public static func isVisible(_ scalar: Unicode.Scalar) -> Bool {
        let p = scalar.properties
        if p.isWhitespace || p.isDefaultIgnorableCodePoint { return false }
        switch p.generalCategory {
        case .control, .format, .nonspacingMark, .enclosingMark, .spacingMark, .lineSeparator, .paragraphSeparator,
            .spaceSeparator, .unassigned, .surrogate, .privateUse:
            return false
        default: return true
        }
    }

    /// A combining mark (Mn, Mc, Me): it belongs to the scalar before it.
    public static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        default: return false
        }
    }

    /// Unicode NFC (canonical composition): one spelling for text that looks the same.
    public static func nfc(_ text: String) -> String { text.precomposedStringWithCanonicalMapping }

    /// A domain label's one spelling: NFKC (compatibility forms such as fullwidth letters folded) and
    /// lower case, then NFC again. A label is valid only if it already is this (compare the bytes).
    public static func domainLabel(_ label: String) -> String {
        nfc(label.precomposedStringWithCompatibilityMapping.lowercased())
    }

    /// Byte order of the UTF-8 (LMDB's key order), by memcmp: sorting a snapshot's members and
    /// invitations with a generic element-by-element comparison showed in the rebuild benchmark.
    public static func bytesPrecede(_ a: String, _ b: String) -> Bool {
        var (x, y) = (a, b)
        return x.withUTF8 { p in
            y.withUTF8 { q in
                let common = min(p.count, q.count)
                let c = common == 0 ? 0 : memcmp(p.baseAddress!, q.baseAddress!, common)
                return c != 0 ? c < 0 : p.count < q.count
            }
        }
    }
}
