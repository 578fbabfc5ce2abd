import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// The personal-data store and the people views (product spec §7, §8), in the log's environment and
/// written in the same transactions as the events. Unlike the projections these tables are not
/// re-derived by a rebuild: the log holds only commitments, so the values exist nowhere else.
///
/// | table | key | value |
/// |---|---|---|
/// | `personal` | seq (8 bytes BE) ‖ pointer | user id ‖ 0 ‖ salt (32) ‖ UTF-8 value — one committed value |
/// | `personal_by_user` | user id ‖ 0 ‖ seq (8) ‖ pointer | empty — what an erasure deletes |
/// | `users` | user id | the user row (`Render.userRow`): values in clear while held |
/// | `user_emails` | `InstanceKey.tag(email:)` (HMAC-SHA-256) | user id ‖ 0 ‖ account status — the lookup of §8 (the status beside it: a command's actor costs one read); only users not erased |
/// | `usernames` | `InstanceKey.tag(username:)` | user id |
/// | `erased_emails` | `InstanceKey.tag(email:)` of an erased email | empty — "this email was erased", nothing more |
/// | `user_orgs` | user id ‖ 0 ‖ org id | empty — every org whose stream names the user (a purge visits them) |
/// | `user_due` | purge time (8 bytes, as `due`) ‖ user id | empty — scheduled account deletions |
/// | `people_meta` | `request_context_before` | seq (8 bytes BE): request context of every event before it is erased |
/// | `directory_names` | org id ‖ 0 ‖ `InstanceKey.tag(directoryName:)` | user id — SCIM `userName`s, unique per org (§10) |
/// | `directory_name_of` | org id ‖ 0 ‖ user id | that tag — what the end of a membership deletes |
public struct PeopleStore: Sendable {
    public let personal: Database
    public let personalByUser: Database
    public let users: Database
    public let userEmails: Database
    public let usernames: Database
    public let erasedEmails: Database
    public let userOrgs: Database
    public let userDue: Database
    public let meta: Database
    public let directoryNames: Database
    public let directoryNameOf: Database
    /// Keys the email and username lookups; nil for offline readers of a folder without its key file,
    /// which then find no one by email.
    let key: InstanceKey?

    public init(environment: Environment, key: InstanceKey?) throws {
        self.key = key
        personal = try environment.openDatabase("personal")
        personalByUser = try environment.openDatabase("personal_by_user")
        users = try environment.openDatabase("users")
        userEmails = try environment.openDatabase("user_emails")
        usernames = try environment.openDatabase("usernames")
        erasedEmails = try environment.openDatabase("erased_emails")
        userOrgs = try environment.openDatabase("user_orgs")
        userDue = try environment.openDatabase("user_due")
        meta = try environment.openDatabase("people_meta")
        directoryNames = try environment.openDatabase("directory_names")
        directoryNameOf = try environment.openDatabase("directory_name_of")
    }

    // MARK: Reading

    public func userID(of email: Email, in txn: borrowing some TransactionReading & ~Copyable) throws -> UserID? {
        try account(of: email, in: txn)?.id
    }

    /// The user of `email` and their account status, from the lookup alone.
    public func account(of email: Email, in txn: borrowing some TransactionReading & ~Copyable) throws -> (id: UserID, status: UserStatus)? {
        guard let key else { return nil }
        return try txn.withValue(in: userEmails, forKey: key.tag(email: email)) { value -> (id: UserID, status: UserStatus)? in
            guard let zero = value.firstIndex(of: 0), let status = UserStatus(rawValue: String(decoding: value[(zero + 1)...], as: UTF8.self)) else { return nil }
            return (UserID(trusted: String(decoding: value[..<zero], as: UTF8.self)), status)
        } ?? nil
    }

    public func userID(ofUsername username: Handle, in txn: borrowing some TransactionReading & ~Copyable) throws -> UserID? {
        guard let key else { return nil }
        return try txn.withValue(in: usernames, forKey: key.tag(username: username.value)) { UserID(trusted: String(decoding: $0, as: UTF8.self)) }
    }

    public func row(_ user: UserID, in txn: borrowing some TransactionReading & ~Copyable) throws -> UserRow? {
        try txn.withValue(in: users, forKey: Array(user.value.utf8)) { UserRow(json: Array($0)) } ?? nil
    }

    public func person(_ user: UserID, in txn: borrowing some TransactionReading & ~Copyable) throws -> Person? {
        try row(user, in: txn).map { Person(id: user, email: $0.email, status: $0.status) }
    }

    /// Whom a kept reply belongs to: the user of `email`, or the keyed hash of an email that is no one's.
    func replyOwner(_ email: Email, in txn: borrowing some TransactionReading & ~Copyable) throws -> String {
        if let user = try userID(of: email, in: txn) { return user.value }
        return key.map { "tag:" + Hex.encode($0.tag(email: email)) } ?? "tag:none"
    }

    public func wasErased(_ email: Email, in txn: borrowing some TransactionReading & ~Copyable) throws -> Bool {
        guard let key else { return false }
        return try txn.withValue(in: erasedEmails, forKey: key.tag(email: email)) { _ in true } ?? false
    }

    /// The orgs whose streams name `user`.
    public func orgs(of user: UserID, in txn: borrowing some TransactionReading & ~Copyable) throws -> [String] {
        try Queries.entries(under: Keys.joined(user.value, ""), in: userOrgs, txn: txn).map { String(decoding: $0.suffix, as: UTF8.self) }
    }

    /// The salt and value kept for `pointer` of event `seq`, if still held.
    public func disclosed(seq: UInt64, pointer: String, in txn: borrowing some TransactionReading & ~Copyable) throws -> PersonalValue.Disclosed? {
        try txn.withValue(in: personal, forKey: Self.personalKey(seq, pointer)) { Self.decodePersonal($0)?.disclosed } ?? nil
    }

    /// Every value still held for events after `after` up to `through`, in seq order (`export --disclose`
    /// bounds it by the last event it exported, which the service may have passed since).
    public func disclosures(after: UInt64, through: UInt64 = .max, in txn: borrowing some TransactionReading & ~Copyable) throws -> [DisclosureLine] {
        var out: [DisclosureLine] = []
        guard after < through else { return out }
        try txn.withCursor(on: personal) { cursor in
            try cursor.forEach(from: Keys.be64(after + 1)) { entry in
                let seq = Keys.readBE64(UnsafeRawBufferPointer(rebasing: entry.key[..<8]))
                guard seq <= through else { return false }
                if let (_, disclosed) = Self.decodePersonal(entry.value) {
                    out.append(DisclosureLine(seq: seq, field: String(decoding: entry.key[8...], as: UTF8.self), salt: disclosed.salt, value: disclosed.value))
                }
                return true
            }
        }
        return out
    }

    // MARK: Writing

    /// Keeps the values event `seq` commits to (its disclosures) for `owner`.
    func keep(_ disclosures: [Disclosure], seq: UInt64, owner: UserID, in txn: borrowing WriteTransaction) throws {
        for disclosure in disclosures {
            guard let disclosed = disclosure.value.disclosed else { continue }
            var value = Array(owner.value.utf8) + [0] + disclosed.salt
            value += Array(disclosed.value.utf8)
            try txn.put(in: personal, key: Self.personalKey(seq, disclosure.pointer), value: value)
            try txn.put(in: personalByUser, key: Keys.joined(owner.value, "") + Self.personalKey(seq, disclosure.pointer), value: [])
        }
    }

    func put(_ row: UserRow, previous: UserRow?, in txn: borrowing WriteTransaction) throws {
        guard let tagger = key else { throw EnvelopeError("the people store is read-only without the instance key") }
        let id = Array(row.id.value.utf8)
        if let previous {
            if let old = previous.email, old != row.email { try txn.delete(in: userEmails, key: tagger.tag(email: old)) }
            if let old = previous.username, old != row.username { try txn.delete(in: usernames, key: tagger.tag(username: old)) }
            if let old = previous.purgeAt, old != row.purgeAt { try txn.delete(in: userDue, key: Self.dueKey(old, row.id)) }
            // Overwritten with zeros first, so the page the row ends on holds no stale copy of it; the page
            // copied away by LMDB's copy-on-write keeps the old bytes until `compact` (see `Compaction`).
            try scrub(users, key: id, in: txn)
        }
        if let email = row.email { try txn.put(in: userEmails, key: tagger.tag(email: email), value: Keys.joined(row.id.value, row.status.rawValue)) }
        if let username = row.username { try txn.put(in: usernames, key: tagger.tag(username: username), value: id) }
        if let purgeAt = row.purgeAt { try txn.put(in: userDue, key: Self.dueKey(purgeAt, row.id), value: []) }
        try txn.put(in: users, key: id, value: row.json)
    }

    /// Overwrites a value with zeros of its own length (in place) before it is replaced or deleted.
    func scrub(_ db: Database, key: [UInt8], in txn: borrowing WriteTransaction) throws {
        guard let count = try txn.withValue(in: db, forKey: key, { $0.count }) else { return }
        try txn.put(in: db, key: key, value: [UInt8](repeating: 0, count: count))
    }

    func noteOrg(_ orgID: String, names user: UserID, in txn: borrowing WriteTransaction) throws {
        try txn.put(in: userOrgs, key: Keys.joined(user.value, orgID), value: [])
    }

    /// Deletes every value held for `user` (store rows and the lookups); returns how many store rows.
    func eraseValues(of user: UserID, in txn: borrowing WriteTransaction) throws -> Int {
        let prefix = Keys.joined(user.value, "")
        let keys = try Queries.entries(under: prefix, in: personalByUser, txn: txn).map(\.suffix)
        for key in keys {
            try scrub(personal, key: key, in: txn)
            try txn.delete(in: personal, key: key)
            try txn.delete(in: personalByUser, key: prefix + key)
        }
        return keys.count
    }

    func rememberErased(_ email: Email, in txn: borrowing WriteTransaction) throws {
        guard let key else { return }
        try txn.put(in: erasedEmails, key: key.tag(email: email), value: [])
    }

    /// The users whose account deletion is due at `now`, at most `limit`, with their `user_due` keys.
    func dueUsers(at now: Timestamp, limit: Int, in txn: borrowing some TransactionReading & ~Copyable) throws -> [(user: UserID, key: [UInt8])] {
        var out: [(user: UserID, key: [UInt8])] = []
        try txn.withCursor(on: userDue) { cursor in
            try cursor.forEach(from: [UInt8]?.none) { entry in
                let ms = Int64(bitPattern: Keys.readBE64(UnsafeRawBufferPointer(rebasing: entry.key[..<8])) ^ (1 << 63))
                guard ms <= now.millisecondsSinceEpoch, out.count < limit else { return false }
                out.append((UserID(trusted: String(decoding: entry.key[8...], as: UTF8.self)), Array(entry.key)))
                return true
            }
        }
        return out
    }

    // MARK: Directory names (SCIM)

    /// The member of `orgID` whose directory `userName` has this key (`DirectoryProfile.userNameKey`).
    public func directoryNameHolder(_ userNameKey: String, in orgID: String, txn: borrowing some TransactionReading & ~Copyable) throws -> UserID? {
        guard let key else { return nil }
        return try txn.withValue(in: directoryNames, forKey: Keys.joined(orgID, "") + key.tag(directoryName: userNameKey)) {
            UserID(trusted: String(decoding: $0, as: UTF8.self))
        }
    }

    /// Makes `userName` the member's directory name in the org (replacing the one they had).
    func setDirectoryName(_ userName: String, of user: UserID, in orgID: String, txn: borrowing WriteTransaction) throws {
        guard let key else { throw EnvelopeError("the people store is read-only without the instance key") }
        try dropDirectoryName(of: user, in: orgID, txn: txn)
        let tag = key.tag(directoryName: DirectoryProfile.userNameKey(userName))
        try txn.put(in: directoryNames, key: Keys.joined(orgID, "") + tag, value: Array(user.value.utf8))
        try txn.put(in: directoryNameOf, key: Keys.joined(orgID, user.value), value: tag)
    }

    /// Frees the member's directory name in the org, if they have one (their membership ended).
    func dropDirectoryName(of user: UserID, in orgID: String, txn: borrowing WriteTransaction) throws {
        let reverse = Keys.joined(orgID, user.value)
        guard let tag = try txn.withValue(in: directoryNameOf, forKey: reverse, { Array($0) }) else { return }
        try txn.delete(in: directoryNames, key: Keys.joined(orgID, "") + tag)
        try txn.delete(in: directoryNameOf, key: reverse)
    }

    /// Frees every directory name of an org (it was purged).
    func dropDirectoryNames(in orgID: String, txn: borrowing WriteTransaction) throws {
        let prefix = Keys.joined(orgID, "")
        for table in [directoryNames, directoryNameOf] {
            for entry in try Queries.entries(under: prefix, in: table, txn: txn) { try txn.delete(in: table, key: prefix + entry.suffix) }
        }
    }

    // MARK: Retention

    static let requestContextBeforeKey = Array("request_context_before".utf8)

    /// Erases the request context (`/meta/…` values) of events recorded before `cutoff`, from where the
    /// last run stopped, at most about `limit` values (whole events); returns how many values, and the
    /// seq every erased value is before (the first event kept, or one past the last looked at). `time`
    /// reads an event's `at`.
    func eraseRequestContext(
        recordedBefore cutoff: Timestamp, limit: Int, time: (UInt64) throws -> Timestamp?, in txn: borrowing WriteTransaction
    ) throws -> (count: Int, beforeSeq: UInt64) {
        let start = try txn.withValue(in: meta, forKey: Self.requestContextBeforeKey) { Keys.readBE64($0) } ?? 1
        var doomed: [(key: [UInt8], owner: UserID)] = []
        var beforeSeq = start
        var timeOfSeq: (seq: UInt64, at: Timestamp?) = (0, nil)
        try txn.withCursor(on: personal) { cursor in
            try cursor.forEach(from: Keys.be64(start)) { entry in
                let seq = Keys.readBE64(UnsafeRawBufferPointer(rebasing: entry.key[..<8]))
                if timeOfSeq.seq != seq { timeOfSeq = (seq, try time(seq)) }
                // Stop at the first event kept, or at a seq boundary once `limit` values are gathered.
                guard let at = timeOfSeq.at, at < cutoff, doomed.count < limit || beforeSeq > seq else {
                    beforeSeq = seq
                    return false
                }
                beforeSeq = seq + 1
                if entry.key[8...].starts(with: "/meta/".utf8), let (owner, _) = Self.decodePersonal(entry.value) {
                    doomed.append((Array(entry.key), owner))
                }
                return true
            }
        }
        for (key, owner) in doomed {
            try scrub(personal, key: key, in: txn)
            try txn.delete(in: personal, key: key)
            try txn.delete(in: personalByUser, key: Keys.joined(owner.value, "") + key)
        }
        try txn.put(in: meta, key: Self.requestContextBeforeKey, value: Keys.be64(beforeSeq))
        return (doomed.count, beforeSeq)
    }

    /// Where the retention runs of an imported log had got to.
    func restoreRequestContextWatermark(_ beforeSeq: UInt64, in txn: borrowing WriteTransaction) throws {
        try txn.put(in: meta, key: Self.requestContextBeforeKey, value: Keys.be64(beforeSeq))
    }

    // MARK: Layouts

    static func personalKey(_ seq: UInt64, _ pointer: String) -> [UInt8] { Keys.be64(seq) + Array(pointer.utf8) }

    static func dueKey(_ time: Timestamp, _ user: UserID) -> [UInt8] {
        Keys.be64(UInt64(bitPattern: time.millisecondsSinceEpoch) ^ (1 << 63)) + Array(user.value.utf8)
    }

    /// (owner, salt + value) of a `personal` value.
    static func decodePersonal(_ bytes: UnsafeRawBufferPointer) -> (owner: UserID, disclosed: PersonalValue.Disclosed)? {
        guard let zero = bytes.firstIndex(of: 0), bytes.count >= zero + 1 + PersonalValue.saltBytes else { return nil }
        let owner = UserID(trusted: String(decoding: bytes[..<zero], as: UTF8.self))
        let salt = Array(bytes[(zero + 1)..<(zero + 1 + PersonalValue.saltBytes)])
        let value = String(decoding: bytes[(zero + 1 + PersonalValue.saltBytes)...], as: UTF8.self)
        return (owner, PersonalValue.Disclosed(salt: salt, value: value))
    }
}

/// One user's row in the `users` view: their standing and, while held, their values in clear.
public struct UserRow: Sendable, Hashable {
    public var id: UserID
    public var status: UserStatus
    public var createdAt: Timestamp
    public var version: UInt64
    public var purgeAt: Timestamp?
    public var email: Email?
    public var name: String?
    public var username: String?
    public var avatarURL: String?

    public init(id: UserID, status: UserStatus, createdAt: Timestamp, version: UInt64) {
        self.id = id
        self.status = status
        self.createdAt = createdAt
        self.version = version
    }

    /// `{avatar_url, created_at, email, id, name, purge_at, status, username, version}`; an erased
    /// user's values are `[erased]` for the email and null for the rest.
    public var json: [UInt8] {
        var out: [UInt8] = []
        var w = RowWriter(appendingTo: &out)
        w.optionalString("avatar_url", avatarURL)
        w.time("created_at", createdAt)
        w.string("email", email?.value ?? Person.erasedLabel)
        w.string("id", id.value)
        w.optionalString("name", name)
        w.time("purge_at", purgeAt)
        w.string("status", status.rawValue)
        w.optionalString("username", username)
        w.int("version", Int64(version))
        w.finish(into: &out)
        return out
    }

    public init?(json bytes: [UInt8]) {
        guard case .object(let m)? = try? JSONParser.parse(bytes), let id = m["id"]?.stringValue,
            let status = m["status"]?.stringValue.flatMap(UserStatus.init(rawValue:)),
            let createdAt = m["created_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:)), case .int(let version)? = m["version"]
        else { return nil }
        self.init(id: UserID(trusted: id), status: status, createdAt: createdAt, version: UInt64(version))
        purgeAt = m["purge_at"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        if status != .erased, let email = m["email"]?.stringValue { self.email = Email(trusted: email) }
        name = m["name"]?.stringValue
        username = m["username"]?.stringValue
        avatarURL = m["avatar_url"]?.stringValue
    }

    /// Sets the value a disclosure gives for an event's `pointer` (an import: events read from a log
    /// carry commitments only).
    mutating func disclose(_ value: String, at pointer: String) {
        switch pointer {
        case "/data/email": email = Email(trusted: value)
        case "/data/changes/name": name = value
        case "/data/changes/username": username = value
        case "/data/changes/avatar_url": avatarURL = value
        default: break
        }
    }

    /// The row after `event` (recorded at `version`, `at`), with the values it discloses.
    mutating func apply(_ event: UserEvent, state: UserState) {
        version = state.version
        status = state.status
        purgeAt = state.purgeAt
        switch event {
        case .created(let email, _), .emailChanged(let email):
            if let value = email.disclosed?.value { self.email = Email(trusted: value) }
        case .profileUpdated(let name, let username, let avatarURL):
            if let name { self.name = name?.disclosed?.value }
            if let username { self.username = username?.disclosed?.value }
            if let avatarURL { self.avatarURL = avatarURL?.disclosed?.value }
        case .erased:
            email = nil
            name = nil
            username = nil
            avatarURL = nil
        case .deletionScheduled, .deletionCanceled, .activated:
            break
        }
    }
}
