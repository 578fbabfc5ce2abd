import Testing
import Ledger
@testable import LedgerLMDB

@Suite("Audit CSV: RFC 4180 fields that no spreadsheet runs as a formula")
struct AuditFormatTests {
    @Test("a field whose first scalar can start a formula is prefixed with an apostrophe", arguments: [
        "=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1",
        "=\u{301}HYPERLINK(\"x\")",  // '=' and a combining mark: one character, still read as '='
        "=\u{200D}1", "\u{FF1D}1+1", "\u{FF0B}1", "\u{FF0D}1", "\u{FF20}x",
    ])
    func guarded(value: String) {
        let field = AuditFormat.csvField(value)
        let unquoted = field.hasPrefix("\"") ? String(field.dropFirst()) : field
        #expect(unquoted.unicodeScalars.first == "'", "\(value.debugDescription) → \(field.debugDescription)")
    }

    @Test("other fields are left as they are, quoted only where RFC 4180 says", arguments: [
        ("ada@example.com", "ada@example.com"), ("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("é=1", "é=1"),
    ])
    func plain(value: String, expected: String) {
        #expect(AuditFormat.csvField(value) == expected)
    }
}
