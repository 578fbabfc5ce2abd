import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// The reads behind SCIM (product spec §10): an org's members from its current state, each with their
/// current email and the values of their latest `member.directory_updated`, found through the stream
/// index (org, version → seq) in the personal-data store. Nothing of SCIM is kept twice: the state
/// says which event holds a member's profile; the store holds its values until they are erased.
enum DirectoryQuery {
    /// The page of `state`'s members that `filter` takes, `count` from the `startIndex`-th (from 1).
    static func page(
        _ state: OrgState, filter: DirectoryFilter, startIndex: Int, count: Int, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> DirectoryPage {
        var taken: [DirectoryMember] = []
        var total = 0
        // A filter on the member's facts alone (role, id) is decided without reading a value: a page of a
        // large org materializes only its own members.
        let needsValues = filter.needsValues
        for member in try candidates(state, filter: filter, tables: tables, in: txn) {
            let shown: DirectoryMember
            if needsValues {
                shown = try directoryMember(member, orgID: state.id, tables: tables, in: txn)
                guard filter.accepts(shown) else { continue }
                total += 1
            } else {
                guard filter.accepts(facts(of: member)) else { continue }
                total += 1
                guard total >= startIndex, taken.count < count else { continue }
                shown = try directoryMember(member, orgID: state.id, tables: tables, in: txn)
            }
            if total >= startIndex, taken.count < count { taken.append(shown) }
        }
        return DirectoryPage(members: taken, total: total, orgVersion: state.version)
    }

    /// The members a filter can take, in user id order: the one its `userName` or email names (index
    /// lookups), else all of them.
    private static func candidates(
        _ state: OrgState, filter: DirectoryFilter, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable
    ) throws -> [Member] {
        for condition in filter.conditions {
            switch condition {
            case .userName(let name):
                // The directory's name, or (for a member the directory keeps nothing about) the email.
                var users: Set<UserID> = []
                if let holder = try tables.people.directoryNameHolder(DirectoryProfile.userNameKey(name), in: state.id, txn: txn) { users.insert(holder) }
                if case .success(let email) = Email.parse(name), let user = try tables.people.userID(of: email, in: txn) { users.insert(user) }
                return users.sorted().compactMap { state.members[$0] }
            case .email(let email):
                return try tables.people.userID(of: email, in: txn).flatMap { state.members[$0] }.map { [$0] } ?? []
            case .user(let user):
                return state.members[user].map { [$0] } ?? []
            case .externalID, .displayName, .role:
                continue
            }
        }
        return state.members.keys.sorted().map { state.members[$0]! }
    }

    /// A member's facts without any value (no email, no profile): enough for a filter that needs none.
    static func facts(of member: Member) -> DirectoryMember {
        DirectoryMember(
            user: member.user, email: nil, role: member.role, status: member.status, joinedAt: member.joinedAt, profile: nil,
            changedVersion: member.changedVersion, changedAt: member.changedAt)
    }

    static func directoryMember(_ member: Member, orgID: String, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> DirectoryMember {
        let email = try tables.people.row(member.user, in: txn)?.email
        let profile = try member.directoryVersion.flatMap { try self.profile(orgID, version: $0, tables: tables, in: txn) }
        return DirectoryMember(
            user: member.user, email: email, role: member.role, status: member.status, joinedAt: member.joinedAt, profile: profile,
            changedVersion: member.changedVersion, changedAt: member.changedAt)
    }

    /// The values of the `member.directory_updated` at `version` of the org's stream; nil once erased.
    static func profile(_ orgID: String, version: UInt64, tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable) throws -> DirectoryProfile? {
        guard let seq = try txn.withValue(in: tables.log.streams, forKey: Keys.joined(orgID, "") + Keys.be64(version), { Keys.readBE64($0) }) else { return nil }
        func value(_ field: String) throws -> String? { try tables.people.disclosed(seq: seq, pointer: "/data/\(field)", in: txn)?.value }
        guard let userName = try value("user_name") else { return nil }
        return DirectoryProfile(userName: userName, externalID: try value("external_id"), displayName: try value("display_name"), name: try value("name"))
    }
}
