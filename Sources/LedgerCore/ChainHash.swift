import Crypto

/// A SHA-256 digest in the hash chain: an event's `hash`, or the `prev_hash` it names.
public struct ChainHash: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes as four big-endian words, so the value is inline and hashing it allocates nothing.
    private var words: SIMD4<UInt64>

    /// `prev_hash` of the first event: 64 zeros.
    public static let genesis = ChainHash(words: .zero)

    private init(words: SIMD4<UInt64>) { self.words = words }

    /// The digest from 32 raw bytes.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == 32, "a SHA-256 digest has 32 bytes")
        var w = SIMD4<UInt64>.zero
        for i in 0..<4 {
            w[i] = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
        }
        words = w
    }

    /// The SHA-256 of `data`.
    public static func of(_ data: UnsafeRawBufferPointer) -> ChainHash {
        SHA256.hash(data: data).withUnsafeBytes { ChainHash(bytes: $0) }
    }

    public static func of(_ data: [UInt8]) -> ChainHash {
        data.withUnsafeBytes { of($0) }
    }

    /// Parses 64 lower-case hex digits (upper case is refused: the chain has one spelling).
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var w = SIMD4<UInt64>.zero
        for i in 0..<64 {
            let c = utf8[i]
            let d: UInt64
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt64(c - UInt8(ascii: "a") + 10)
            default: return nil
            }
            w[i / 16] = w[i / 16] << 4 | d
        }
        words = w
    }

    /// The raw 32 bytes.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(32)
        for i in 0..<4 { withUnsafeBytes(of: words[i].bigEndian) { out.append(contentsOf: $0) } }
        return out
    }

    /// Writes the 32 raw bytes at `destination`.
    public func write(to destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count >= 32)
        for i in 0..<4 { destination.storeBytes(of: words[i].bigEndian, toByteOffset: i * 8, as: UInt64.self) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the 64 lower-case hex digits.
    public func appendHex(to out: inout [UInt8]) {
        for i in 0..<4 {
            let w = words[i]
            for shift in stride(from: 60, through: 0, by: -4) {
                out.append(Self.hexDigits[Int((w >> UInt64(shift)) & 0xF)])
            }
        }
    }

    /// 64 lower-case hex digits.
    public var hex: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }
}
