import LedgerCore

/// An org's state as bytes, and back: the snapshots that bound time travel's fold (`Snapshots` in the
/// Ledger layer says when one is kept). Not a contract with anyone outside the ledger: snapshots are
/// views, re-derived by every rebuild, so the layout may change with the projection format.
///
/// Layout (all integers big-endian): `0x01` ‖ the org's scalars ‖ members ‖ invitations ‖ keys ‖ held
/// handles, each table a count (4 bytes) and its entries in key order (so equal states give equal
/// bytes, which verify compares). A string is its UTF-8 length (4 bytes) and bytes; an optional a
/// presence byte and the value; a time its milliseconds (8 bytes); an enum its raw value.
extension OrgState {
    static let snapshotLayout: UInt8 = 3

    /// How many table entries a snapshot of this state holds: the measure of what one costs.
    public var snapshotEntries: Int { members.count + invitations.count + apiKeys.count + heldHandles.count }

    public func snapshotBytes() -> [UInt8] {
        var w = SnapshotWriter()
        w.out.reserveCapacity(256 + snapshotEntries * 96)
        w.byte(Self.snapshotLayout)
        w.string(id)
        w.string(handle.value)
        w.string(displayName)
        w.optional(avatarURL) { $0.string($1) }
        w.string(status.rawValue)
        w.int(Int64(authEpoch))
        w.time(createdAt)
        w.int(Int64(bitPattern: version))
        w.optional(deletionScheduledAt) { $0.time($1) }
        w.optional(purgeAt) { $0.time($1) }
        w.count(members.count)
        // Keys sorted, not the values: moving whole entries about dominated the cost of a snapshot.
        for user in members.keys.sorted() {
            let member = members[user]!
            w.string(member.user.value)
            w.string(member.role.rawValue)
            w.string(member.status.rawValue)
            w.time(member.joinedAt)
            w.optional(member.invitedBy?.value) { $0.string($1) }
            w.int(Int64(bitPattern: member.membership))
            w.optional(member.directoryVersion) { $0.int(Int64(bitPattern: $1)) }
            w.int(Int64(bitPattern: member.changedVersion))
            w.time(member.changedAt)
        }
        w.count(invitations.count)
        for id in invitations.keys.sorted(by: TextRules.bytesPrecede) {
            let invitation = invitations[id]!
            w.string(invitation.id)
            w.string(invitation.invitee.value)
            w.string(invitation.role.rawValue)
            w.string(invitation.invitedBy.value)
            w.time(invitation.sentAt)
            w.time(invitation.expiresAt)
            w.string(invitation.status.rawValue)
        }
        w.count(apiKeys.count)
        for id in apiKeys.keys.sorted(by: TextRules.bytesPrecede) {
            let key = apiKeys[id]!
            w.string(key.id)
            w.string(key.name)
            w.string(key.role.rawValue)
            w.string(key.createdBy.value)
            w.time(key.createdAt)
            w.string(key.secretSHA256)
            w.int(Int64(key.authEpoch))
            w.byte(key.revoked ? 1 : 0)
            w.optional(key.creatorMembership.map { Int64(bitPattern: $0) }) { $0.int($1) }
        }
        w.count(heldHandles.count)
        for (held, until) in heldHandles.sorted(by: { TextRules.bytesPrecede($0.key.value, $1.key.value) }) {
            w.string(held.value)
            w.time(until)
        }
        return w.out
    }

    /// Reads what `snapshotBytes` wrote; throws on anything else (a damaged or foreign value).
    public init(snapshot bytes: UnsafeRawBufferPointer) throws {
        var r = SnapshotReader(bytes: bytes)
        guard try r.byte() == Self.snapshotLayout else { throw SnapshotError("unknown snapshot layout") }
        let id = try r.string(), handle = Handle(trusted: try r.string()), displayName = try r.string()
        let avatarURL = try r.optional { r in try r.string() }
        let status: OrgStatus = try r.raw()
        let authEpoch = Int(try r.int()), createdAt = try r.time(), version = UInt64(bitPattern: try r.int())
        let deletionScheduledAt = try r.optional { r in try r.time() }
        let purgeAt = try r.optional { r in try r.time() }
        var members: [UserID: Member] = [:]
        let memberCount = try r.count()
        members.reserveCapacity(memberCount)
        for _ in 0..<memberCount {
            let user = UserID(trusted: try r.string())
            members[user] = Member(
                user: user, role: try r.raw(), status: try r.raw(), joinedAt: try r.time(),
                invitedBy: try r.optional { r in UserID(trusted: try r.string()) },
                membership: UInt64(bitPattern: try r.int()), directoryVersion: try r.optional { r in UInt64(bitPattern: try r.int()) },
                changedVersion: UInt64(bitPattern: try r.int()), changedAt: try r.time())
        }
        var invitations: Invitations = [:]
        let invitationCount = try r.count()
        invitations.reserveCapacity(invitationCount)
        for _ in 0..<invitationCount {
            let invitation = Invitation(
                id: try r.string(), invitee: UserID(trusted: try r.string()), role: try r.raw(), invitedBy: UserID(trusted: try r.string()),
                sentAt: try r.time(), expiresAt: try r.time(), status: try r.raw())
            invitations[invitation.id] = invitation
        }
        var apiKeys: [String: APIKey] = [:]
        for _ in 0..<(try r.count()) {
            let key = APIKey(
                id: try r.string(), name: try r.string(), role: try r.raw(), createdBy: UserID(trusted: try r.string()), createdAt: try r.time(),
                secretSHA256: try r.string(), authEpoch: Int(try r.int()), revoked: try r.byte() == 1,
                creatorMembership: try r.optional { r in UInt64(bitPattern: try r.int()) })
            apiKeys[key.id] = key
        }
        var heldHandles: [Handle: Timestamp] = [:]
        for _ in 0..<(try r.count()) { heldHandles[Handle(trusted: try r.string())] = try r.time() }
        guard r.isAtEnd else { throw SnapshotError("bytes after the snapshot") }
        self.init(
            id: id, handle: handle, displayName: displayName, avatarURL: avatarURL, status: status, authEpoch: authEpoch, createdAt: createdAt,
            version: version, deletionScheduledAt: deletionScheduledAt, purgeAt: purgeAt, members: members, invitations: invitations,
            apiKeys: apiKeys, heldHandles: heldHandles)
    }
}

public struct SnapshotError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = "snapshot: " + description }
}

private struct SnapshotWriter {
    var out: [UInt8] = []

    mutating func byte(_ value: UInt8) { out.append(value) }

    mutating func int(_ value: Int64) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }

    mutating func count(_ value: Int) { withUnsafeBytes(of: UInt32(value).bigEndian) { out.append(contentsOf: $0) } }

    mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { bytes in
            count(bytes.count)
            out.append(contentsOf: bytes)
        }
    }

    mutating func time(_ value: Timestamp) { int(value.millisecondsSinceEpoch) }

    mutating func optional<T>(_ value: T?, _ write: (inout SnapshotWriter, T) -> Void) {
        guard let value else { return byte(0) }
        byte(1)
        write(&self, value)
    }
}

private struct SnapshotReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ n: Int) throws -> UnsafeRawBufferPointer {
        guard n >= 0, bytes.count - offset >= n else { throw SnapshotError("truncated") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
    }

    mutating func byte() throws -> UInt8 { try take(1)[0] }

    mutating func int() throws -> Int64 { Int64(bigEndian: try take(8).loadUnaligned(as: Int64.self)) }

    mutating func count() throws -> Int { Int(UInt32(bigEndian: try take(4).loadUnaligned(as: UInt32.self))) }

    mutating func string() throws -> String { String(decoding: try take(try count()), as: UTF8.self) }

    mutating func time() throws -> Timestamp { Timestamp(millisecondsSinceEpoch: try int()) }

    mutating func raw<T: RawRepresentable<String>>() throws -> T {
        let text = try string()
        guard let value = T(rawValue: text) else { throw SnapshotError("unknown value '\(text)'") }
        return value
    }

    mutating func optional<T>(_ read: (inout SnapshotReader) throws -> T) throws -> T? {
        try byte() == 0 ? nil : try read(&self)
    }
}
