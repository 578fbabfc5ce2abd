/// The ids the service makes: `<prefix>_` + 26 characters of Crockford base32 (128 random bits), e.g.
/// `org_…`, `inv_…`, `key_…`. Ids named in a request are checked against this shape before anything is
/// looked up, so an id never reaches the storage unchecked (an LMDB key is at most 511 bytes).
public enum ResourceID {
    public static let randomLength = 26
    static let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    public static func isWellFormed(_ raw: String, prefix: String) -> Bool {
        let bytes = Array(raw.utf8)
        let head = Array(prefix.utf8) + [UInt8(ascii: "_")]
        return bytes.count == head.count + randomLength && bytes.starts(with: head) && bytes[head.count...].allSatisfy(alphabet.contains)
    }
}
