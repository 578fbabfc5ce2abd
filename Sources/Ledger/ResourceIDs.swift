import Crypto

/// The ids the service makes (`ResourceID` in the domain says their shape): `prefix_` + 26 characters
/// of Crockford base32, 128 random bits from swift-crypto. Users are made inside the ledger's
/// transaction, orgs, invitations and keys by the service: one maker for all.
public enum ResourceIDs {
    public static func make(_ prefix: String) -> String {
        prefix + "_" + base32(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
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
