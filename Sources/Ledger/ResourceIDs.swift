import Crypto
import LedgerCore

/// The ids the service makes (`ResourceID` in the domain says their shape): `prefix_` + 26 characters
/// of Crockford base32, 128 random bits from swift-crypto. Users are made inside the ledger's
/// transaction, orgs, invitations and keys by the service: one maker for all.
public enum ResourceIDs {
    public static func make(_ prefix: String) -> String {
        prefix + "_" + base32(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
    }

    /// `prefix_` + 26 base32 characters that sort by `time`: the milliseconds since 1970 in the first
    /// 10 (50 bits), 80 random bits in the other 16 (as ULIDs do). Users get these: every table keyed
    /// by user id (their streams, the users view, their store rows) then grows at its end instead of
    /// dirtying a random page per new user, which measured about a third of the command rate. Nothing
    /// needs a user id to be unguessable (an invitation id does, and stays fully random).
    public static func make(_ prefix: String, orderedBy time: Timestamp) -> String {
        let ms = UInt64(max(0, time.millisecondsSinceEpoch))
        var head: [UInt8] = []
        for i in (0..<10).reversed() { head.append(alphabet[Int((ms >> (UInt64(i) * 5)) & 31)]) }
        let random = SymmetricKey(size: .bits128).withUnsafeBytes { Array($0.prefix(10)) }
        return prefix + "_" + String(decoding: head, as: UTF8.self) + base32(random)
    }

    private static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func base32(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }
}
