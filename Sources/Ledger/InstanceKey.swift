import Crypto
import Foundation
import LedgerCore
import OrgDomain

/// The instance's own secrets (product spec §7, §8, §9): kept in `instance.key` beside the data (mode
/// 0600), made on first start, moved with a ledger. It holds the instance id; the HMAC secret under
/// which the people lookups are keyed (the store finds a user by a keyed hash of their email or
/// username, and remembers that an email was erased by that hash alone, so no lookup key ever holds a
/// personal value: an LMDB key can outlive its entry in a branch page); and the Ed25519 key that signs
/// the log's checkpoints.
public struct InstanceKey: Sendable {
    public let instanceID: String
    let hmacSecret: SymmetricKey
    /// The Ed25519 private key (its 32-byte seed) that signs checkpoints.
    let signingSeed: [UInt8]

    public static let fileName = "instance.key"

    /// The keyed hash an email is looked up by (and, once erased, the only trace of it).
    public func tag(email: Email) -> [UInt8] { tag("orgledger/email/v1\n", email.value) }

    /// The keyed hash a username is looked up by.
    public func tag(username: String) -> [UInt8] { tag("orgledger/username/v1\n", username) }

    /// The keyed hash a SCIM `userName` (its `DirectoryProfile.userNameKey`) is looked up by in an org.
    public func tag(directoryName: String) -> [UInt8] { tag("orgledger/directory-name/v1\n", directoryName) }

    private func tag(_ domain: String, _ value: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(domain.utf8) + Array(value.utf8), using: hmacSecret))
    }

    public init(instanceID: String, hmacSecret: [UInt8], signingSeed: [UInt8]) {
        precondition(signingSeed.count == 32, "an Ed25519 seed has 32 bytes")
        self.instanceID = instanceID
        self.hmacSecret = SymmetricKey(data: hmacSecret)
        self.signingSeed = signingSeed
    }

    /// A fresh key: a random instance id, a 256-bit secret, a new Ed25519 key.
    public static func generate() -> InstanceKey {
        let id = "ins_" + Hex.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
        return InstanceKey(
            instanceID: id, hmacSecret: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) },
            signingSeed: Array(Curve25519.Signing.PrivateKey().rawRepresentation))
    }

    /// The checkpoint origin when `serve --origin` names none: `orgledger/<instance id>`.
    public var defaultOrigin: String { "orgledger/\(instanceID)" }

    /// The signer of the log's checkpoints, its key named by `origin` (product spec §9).
    public func checkpointSigner(origin: String?) throws -> SignedNote.Signer {
        try SignedNote.Signer(name: origin ?? defaultOrigin, seed: signingSeed)
    }

    /// The file's contents: JSON `{"hmac_secret": hex, "instance_id": …, "signing_key": hex Ed25519 seed}`.
    public var fileContents: [UInt8] {
        let json: JSONValue = [
            "hmac_secret": .string(Hex.encode(hmacSecret.withUnsafeBytes { Array($0) })), "instance_id": .string(instanceID),
            "signing_key": .string(Hex.encode(signingSeed)),
        ]
        return ((try? CanonicalJSON.encode(json)) ?? []) + [UInt8(ascii: "\n")]
    }

    /// Reads a key file. A file from before checkpoints (no `signing_key`) gets a new signing key:
    /// `upgraded` says so, and `load` writes the file back.
    public init(fileContents bytes: [UInt8]) throws(InstanceKeyError) {
        guard case .object(let m)? = try? JSONParser.parse(bytes.filter { $0 != UInt8(ascii: "\n") }),
            case .string(let id)? = m["instance_id"], case .string(let hex)? = m["hmac_secret"], let secret = Hex.decode(hex), secret.count == 32
        else {
            throw InstanceKeyError(
                "instance.key is not an OrgLedger instance key ({\"hmac_secret\": 64 hex digits, \"instance_id\": …, \"signing_key\": 64 hex digits})")
        }
        switch m["signing_key"] {
        case nil:
            self.init(instanceID: id, hmacSecret: secret, signingSeed: Array(Curve25519.Signing.PrivateKey().rawRepresentation))
            upgraded = true
        case .string(let seedHex)?:
            guard let seed = Hex.decode(seedHex), seed.count == 32 else { throw InstanceKeyError("instance.key's signing_key is not 64 hex digits") }
            self.init(instanceID: id, hmacSecret: secret, signingSeed: seed)
        default:
            throw InstanceKeyError("instance.key's signing_key is not 64 hex digits")
        }
    }

    /// Whether this key was read from a file without a signing key and has made one.
    public private(set) var upgraded = false

    /// Writes the key to a new file at `path` (0600; refuses to replace one).
    public func write(to path: String) throws(InstanceKeyError) {
        try write(to: path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
    }

    private func write(to path: String, flags: Int32) throws(InstanceKeyError) {
        let fd = open(path, flags, 0o600)
        guard fd >= 0 else { throw InstanceKeyError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = fileContents
        guard bytes.withUnsafeBytes({ Foundation.write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
            throw InstanceKeyError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads `path`, or makes it (0600, never replacing a file that is there) when `create`.
    public static func load(path: String, create: Bool) throws(InstanceKeyError) -> InstanceKey {
        if let data = FileManager.default.contents(atPath: path) {
            let key = try InstanceKey(fileContents: Array(data))
            if key.upgraded {
                // Written beside, then renamed over: the old file stays whole until the new one is.
                let next = path + ".new"
                unlink(next)
                try key.write(to: next, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC)
                guard rename(next, path) == 0 else { throw InstanceKeyError("cannot replace \(path): \(String(cString: strerror(errno)))") }
            }
            return key
        }
        guard create else {
            throw InstanceKeyError("no instance key at \(path): the data folder's log needs the instance.key it was written with (restore it from the backup)")
        }
        let key = generate()
        try key.write(to: path)
        return key
    }
}

public struct InstanceKeyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
