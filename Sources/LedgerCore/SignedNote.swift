import Crypto
import Foundation

/// C2SP `signed-note` with Ed25519 signatures, and the C2SP `tlog-checkpoint` it carries (product spec §9):
/// the formats Go's `sumdb/note` and every tlog client read, so an auditor checks OrgLedger's
/// checkpoints with their own tools.
///
/// A note is its text (lines ending in `\n`), a blank line, and one line per signature:
/// `— <key name> <base64(key hash ‖ signature)>`. The key hash is the first 4 bytes of
/// `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`, 0x01 naming Ed25519; the verifier key that pins it is
/// `<name>+<key hash, 8 hex digits>+<base64(0x01 ‖ public key)>`.
public enum SignedNote {
    static let ed25519: UInt8 = 1
    static let signaturePrefix = "— "

    /// Whether `name` can name a key: non-empty, no spaces or control characters, no `+`.
    public static func isValidKeyName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.unicodeScalars.contains { $0.value <= 0x20 || $0 == "+" || $0.properties.isWhitespace || $0.value == 0x7F }
    }

    static func keyHash(name: String, publicKey: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: Array(name.utf8) + [0x0A, ed25519] + publicKey).prefix(4))
    }

    public struct Signer: Sendable {
        public let name: String
        private let key: Curve25519.Signing.PrivateKey
        private let keyHash: [UInt8]

        /// `seed`: the 32-byte Ed25519 private key; `name`: the key's name (for a log, its origin).
        public init(name: String, seed: [UInt8]) throws {
            guard isValidKeyName(name) else { throw SignedNoteError("'\(name)' cannot name a key: no spaces, no '+'") }
            self.name = name
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
            keyHash = SignedNote.keyHash(name: name, publicKey: Array(key.publicKey.rawRepresentation))
        }

        /// `<name>+<hash>+<base64 key>`: what an auditor pins.
        public var verifierKey: String {
            return "\(name)+\(Hex.encode(keyHash))+\(Data([ed25519] + key.publicKey.rawRepresentation).base64EncodedString())"
        }

        /// The signed note of `text` (which ends in a newline).
        public func sign(_ text: String) throws -> String {
            precondition(text.hasSuffix("\n"), "a note's text ends in a newline")
            let signature = try key.signature(for: Array(text.utf8))
            return text + "\n" + signaturePrefix + name + " " + Data(keyHash + signature).base64EncodedString() + "\n"
        }
    }

    public struct Verifier: Sendable {
        public let name: String
        let keyHash: [UInt8]
        let key: Curve25519.Signing.PublicKey

        /// Parses a verifier key (`<name>+<hash>+<base64(0x01 ‖ key)>`), checking its hash.
        public init(_ verifierKey: String) throws {
            let parts = verifierKey.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)  // base64 may hold "+"
            guard parts.count == 3, case let name = String(parts[0]), isValidKeyName(name), parts[1].utf8.count == 8, let hash = UInt32(parts[1], radix: 16),
                let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == SignedNote.ed25519
            else { throw SignedNoteError("not an Ed25519 verifier key (<name>+<8 hex digits>+<base64 key>)") }
            let publicKey = Array(raw.dropFirst())
            let expected = SignedNote.keyHash(name: name, publicKey: publicKey)
            guard expected == withUnsafeBytes(of: hash.bigEndian, Array.init) else { throw SignedNoteError("the verifier key's hash does not match its name and key") }
            self.name = name
            self.keyHash = expected
            self.key = try Curve25519.Signing.PublicKey(rawRepresentation: publicKey)
        }

        /// The note's text if this key signed it; throws otherwise (unsigned by it, malformed, or altered).
        public func verify(_ note: String) throws -> String {
            guard let split = note.range(of: "\n\n", options: .backwards) else { throw SignedNoteError("not a signed note: no blank line before the signatures") }
            let text = String(note[..<split.lowerBound]) + "\n"
            let lines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
            guard note.hasSuffix("\n"), lines.last == "" else { throw SignedNoteError("a signed note ends in a newline") }
            for line in lines.dropLast() {
                guard line.hasPrefix(signaturePrefix) else { throw SignedNoteError("a signature line begins with '— '") }
                let fields = line.dropFirst(signaturePrefix.count).split(separator: " ", omittingEmptySubsequences: false)
                guard fields.count == 2, let blob = Data(base64Encoded: String(fields[1])), blob.count == 4 + 64 else { continue }
                guard fields[0] == name, Array(blob.prefix(4)) == keyHash else { continue }
                guard key.isValidSignature(blob.dropFirst(4), for: Data(text.utf8)) else { throw SignedNoteError("the signature of \(name) does not verify") }
                return text
            }
            throw SignedNoteError("the note is not signed by \(name)")
        }
    }
}

/// A C2SP `tlog-checkpoint` body: the log's origin, its tree size, the root (base64), each on its line.
public struct Checkpoint: Sendable, Equatable {
    public let origin: String
    public let size: UInt64
    public let root: MerkleTree.Hash

    public init(origin: String, size: UInt64, root: MerkleTree.Hash) {
        self.origin = origin
        self.size = size
        self.root = root
    }

    public var text: String { "\(origin)\n\(size)\n\(root.base64)\n" }

    /// Parses a checkpoint's text (extension lines after the root are allowed and ignored).
    public init(text: String) throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines.last == "", !lines[0].isEmpty, let size = UInt64(lines[1]), String(size) == lines[1],
            let root = Data(base64Encoded: String(lines[2])), root.count == 32
        else { throw SignedNoteError("not a checkpoint (origin, tree size, base64 root hash, each on its own line)") }
        self.init(origin: String(lines[0]), size: size, root: root.withUnsafeBytes { MerkleTree.Hash(bytes: $0) })
    }

    /// The checkpoint of a signed note, if `verifier` signed it and it names the verifier's origin.
    public init(note: String, verifier: SignedNote.Verifier) throws {
        try self.init(text: try verifier.verify(note))
        guard origin == verifier.name else { throw SignedNoteError("the checkpoint is of origin '\(origin)', the key of '\(verifier.name)'") }
    }
}

public struct SignedNoteError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
