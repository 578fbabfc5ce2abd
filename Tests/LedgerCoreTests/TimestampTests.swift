import Testing
import LedgerCore

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats RFC 3339 UTC with milliseconds", arguments: [
        (Int64(1_795_810_740_123), "2026-11-27T20:19:00.123Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (1_709_208_000_000, "2024-02-29T12:00:00.000Z"),
    ])
    func formats(ms: Int64, text: String) {
        #expect(Timestamp(millisecondsSinceEpoch: ms).rfc3339 == text)
        #expect(Timestamp(rfc3339: text)?.millisecondsSinceEpoch == ms)
    }

    @Test("parses offsets and fractions to the same instant")
    func offsets() {
        let utc = Timestamp(rfc3339: "2026-11-27T20:19:00.123Z")
        #expect(Timestamp(rfc3339: "2026-11-27T21:19:00.123+01:00") == utc)
        #expect(Timestamp(rfc3339: "2026-11-27T15:49:00.123456-04:30") == utc)
        #expect(Timestamp(rfc3339: "2026-11-27T20:19:00Z")?.millisecondsSinceEpoch == 1_795_810_740_000)
        #expect(Timestamp(rfc3339: "2026-11-27T20:19:00.1Z")?.millisecondsSinceEpoch == 1_795_810_740_100)
    }

    @Test("refuses impossible or partial times", arguments: [
        "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27 20:19:00Z",
        "2026-11-27T20:19:00", "2026-11-27T20:19:00.Z", "2026-11-27T20:19:00+0100", "yesterday", "",
    ])
    func refuses(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
        #expect(Array(text.utf8).withUnsafeBytes { Timestamp(rfc3339UTF8: $0) } == nil)
    }

    @Test("parses UTF-8 bytes to the instant they name")
    func bytes() {
        let cases: [(String, Int64)] = [
            ("2026-11-27T20:19:00.123Z", 1_795_810_740_123), ("2026-11-27T21:19:00.123+01:00", 1_795_810_740_123),
            ("1970-01-01T00:00:00Z", 0), ("0001-01-01T00:00:00.999999Z", -62_135_596_800_000 + 999),
        ]
        for (text, ms) in cases {
            #expect(Array(text.utf8).withUnsafeBytes { Timestamp(rfc3339UTF8: $0) }?.millisecondsSinceEpoch == ms, "\(text)")
        }
    }

    @Test("round-trips every millisecond across a sample of dates")
    func roundTrip() {
        var ms: Int64 = -86_400_000 * 365 * 3
        while ms < 86_400_000 * 365 * 80 {
            let t = Timestamp(millisecondsSinceEpoch: ms)
            #expect(Timestamp(rfc3339: t.rfc3339) == t)
            ms += 7_777_777_777
        }
    }
}
