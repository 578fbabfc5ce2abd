import Crypto

/// A personal value as the log holds it (product spec §8): only a commitment,
/// `SHA-256("orgledger/pii/v1\n" ‖ salt ‖ UTF-8 value)` with a fresh 32-byte salt, written in an
/// envelope as `{"c": "<hex>"}`. The salt and the value live beside the log, in the personal-data
/// store, until they are erased; the commitment stays and keeps every hash valid.
///
/// A final class, so `EventMeta` (which holds two) stays as small as it was with strings: growing the
/// values that async functions carry made swiftc 6.3.1 mis-size their frames (heap corruption in the
/// contract tests, as with `OrgState` and `StoredResponse`; README, "Notes for contributors").
public final class PersonalValue: Sendable, Hashable {
    /// The commitment: 32 bytes.
    public let commitment: [UInt8]
    /// The salt and the value while known: a value just committed, or one read back from the store.
    /// Nil for a commitment read from the log alone.
    public let disclosed: Disclosed?

    public struct Disclosed: Sendable, Hashable {
        public let salt: [UInt8]
        public let value: String

        public init(salt: [UInt8], value: String) {
            self.salt = salt
            self.value = value
        }
    }

    public static let saltBytes = 32
    static let domainSeparator = Array("orgledger/pii/v1\n".utf8)

    /// Commits to `value` under `salt` (32 random bytes, fresh for every value).
    public init(committing value: String, salt: [UInt8]) {
        precondition(salt.count == Self.saltBytes, "a commitment's salt has 32 bytes")
        commitment = Self.commitment(to: value, salt: salt)
        disclosed = Disclosed(salt: salt, value: value)
    }

    /// Commits to `value` under a fresh random salt (swift-crypto's generator: one call, not one
    /// system call per byte).
    public convenience init(committing value: String) {
        self.init(committing: value, salt: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }

    /// A commitment read from an envelope: `{"c": "<64 lower-case hex digits>"}`, nothing else.
    public init(json: JSONValue) throws(EnvelopeError) {
        guard case .object(let members) = json, members.count == 1, case .string(let hex)? = members["c"],
            let digest = ChainHash(hex: hex)
        else { throw EnvelopeError("a personal value is {\"c\": <64 lower-case hex digits>}") }
        commitment = digest.bytes
        disclosed = nil
    }

    public static func commitment(to value: String, salt: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: domainSeparator)
        hasher.update(data: salt)
        hasher.update(data: Array(value.utf8))
        return Array(hasher.finalize())
    }

    /// Whether `(salt, value)` opens this commitment.
    public func isOpened(bySalt salt: [UInt8], value: String) -> Bool {
        salt.count == Self.saltBytes && Self.commitment(to: value, salt: salt) == commitment
    }

    public var hex: String { Hex.encode(commitment) }

    /// Equal when they commit to the same thing: an envelope read back from the log (no salt, no
    /// value) equals the one that was written.
    public static func == (a: PersonalValue, b: PersonalValue) -> Bool { a.commitment == b.commitment }

    public func hash(into hasher: inout Hasher) { hasher.combine(commitment) }

    /// `{"c": "<hex>"}`
    public var json: JSONValue { ["c": .string(hex)] }
}

/// One personal value an event commits to, addressed in its envelope: what the personal-data store keeps
/// (beside the event's seq) and what `export --disclose` writes.
public struct Disclosure: Sendable, Hashable {
    /// An RFC 6901 pointer into the envelope, e.g. `/data/email` or `/meta/client_ip`.
    public let pointer: String
    public let value: PersonalValue

    public init(pointer: String, value: PersonalValue) {
        self.pointer = pointer
        self.value = value
    }
}

/// Lower-case hex, the one spelling of bytes in the log and its disclosures.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lower-case hex digits only; nil for anything else.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = digit(utf8[i]), let low = digit(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }
}
