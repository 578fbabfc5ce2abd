/// A point in time with millisecond precision, as every OrgLedger event records it.
///
/// Pure arithmetic: no clock is read here. The service reads the system clock once per command and passes
/// the value down; tests pass whatever time they need.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }

    public static let millisecondsPerDay: Int64 = 86_400_000

    public func adding(days: Int) -> Timestamp { adding(milliseconds: Int64(days) * Self.millisecondsPerDay) }
    public func adding(milliseconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + milliseconds) }

    public var description: String { rfc3339 }

    /// RFC 3339 in UTC with exactly three fraction digits: `2026-11-27T20:19:00.123Z`. One canonical text per instant.
    public var rfc3339: String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        appendRFC3339(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func appendRFC3339(to out: inout [UInt8]) {
        let ms = millisecondsSinceEpoch
        let days = floorDiv(ms, Self.millisecondsPerDay)
        let msOfDay = ms - days * Self.millisecondsPerDay
        let (y, m, d) = civilFromDays(days)
        // 24 bytes, written in place: this runs for every event and every row rendered.
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &text) { b in
            func put(_ value: Int64, _ at: Int, _ width: Int) {
                var v = value
                for i in stride(from: at + width - 1, through: at, by: -1) {
                    b[i] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                }
            }
            put(y, 0, 4); b[4] = UInt8(ascii: "-")
            put(m, 5, 2); b[7] = UInt8(ascii: "-")
            put(d, 8, 2); b[10] = UInt8(ascii: "T")
            put(msOfDay / 3_600_000, 11, 2); b[13] = UInt8(ascii: ":")
            put(msOfDay / 60_000 % 60, 14, 2); b[16] = UInt8(ascii: ":")
            put(msOfDay / 1000 % 60, 17, 2); b[19] = UInt8(ascii: ".")
            put(msOfDay % 1000, 20, 3); b[23] = UInt8(ascii: "Z")
            out.append(contentsOf: b)
        }
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), years 0001–9999. Fractions beyond
    /// milliseconds are truncated. Returns nil for anything else, including impossible dates.
    public init?(rfc3339 text: String) {
        var text = text
        guard let ms = text.withUTF8({ Self.parseRFC3339(UnsafeRawBufferPointer($0)) }) else { return nil }
        self.init(millisecondsSinceEpoch: ms)
    }

    /// The same parse over UTF-8 bytes (no `String` made: replays read every event's time this way).
    public init?(rfc3339UTF8 bytes: UnsafeRawBufferPointer) {
        guard let ms = Self.parseRFC3339(bytes) else { return nil }
        self.init(millisecondsSinceEpoch: ms)
    }

    private static func parseRFC3339(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard b.count >= 20 else { return nil }
        func num(_ at: Int, _ count: Int) -> Int64? {
            guard at + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in at..<(at + count) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - UInt8(ascii: "0"))
            }
            return v
        }
        guard let year = num(0, 4), b[4] == UInt8(ascii: "-"), let month = num(5, 2), b[7] == UInt8(ascii: "-"),
            let day = num(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            let hour = num(11, 2), b[13] == UInt8(ascii: ":"), let minute = num(14, 2), b[16] == UInt8(ascii: ":"),
            let second = num(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysInMonth(year, month),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var i = 19
        var millis: Int64 = 0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) {
                if digits < 3 { millis = millis * 10 + Int64(b[i] - UInt8(ascii: "0")) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        guard i < b.count else { return nil }
        var offsetMinutes: Int64 = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign: Int64 = b[i] == UInt8(ascii: "+") ? 1 : -1
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == UInt8(ascii: ":"), let om = num(i + 4, 2),
                oh < 24, om < 60
            else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        let local = ((days * 24 + hour) * 60 + minute) * 60 + second
        return (local - offsetMinutes * 60) * 1000 + millis
    }
}

// Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).

@inline(__always)
private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }

private func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = floorDiv(y, 400)
    let yoe = y - era * 400
    let mp = (month + 9) % 12
    let doy = (153 * mp + 2) / 5 + day - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
    let z = z0 + 719_468
    let era = floorDiv(z, 146_097)
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

private func daysInMonth(_ year: Int64, _ month: Int64) -> Int64 {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}
