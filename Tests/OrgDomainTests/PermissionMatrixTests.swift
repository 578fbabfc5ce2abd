import Foundation
import LedgerCore
import Testing
@testable import OrgDomain

/// Product spec §2, copied as text. Columns: owner, admin, moderator, member, viewer, billing_manager.
/// The expected answers below are read from this table, never from the code under test.
private let specTable: [(row: String, cells: [String])] = [
    ("read org profile", ["✓", "✓", "✓", "✓", "✓", "✓"]),
    ("read member list", ["✓", "✓", "✓", "✓", "✓", "–"]),
    ("read invitations", ["✓", "✓", "✓", "–", "–", "–"]),
    ("read audit log", ["✓", "✓", "–", "–", "–", "–"]),
    ("update display name / avatar", ["✓", "✓", "–", "–", "–", "–"]),
    ("invite, revoke invitation, remove, suspend, reinstate: target role", ["any but invite-as-owner", "moderator, member, viewer", "member, viewer", "–", "–", "–"]),
    ("change a role A→B (both A and B)", ["any", "moderator, member, viewer", "member, viewer", "–", "–", "–"]),
    ("create / revoke API keys", ["✓", "✓", "–", "–", "–", "–"]),
    ("rename handle, reset auth, schedule / cancel deletion", ["✓", "–", "–", "–", "–", "–"]),
]
private let columns = ["owner", "admin", "moderator", "member", "viewer", "billing_manager"]

private func cell(_ row: String, _ role: Role) -> String {
    specTable.first { $0.row == row }!.cells[columns.firstIndex(of: role.rawValue)!]
}

/// Whether the table's targeted cell allows acting on `target` (for `invite`, owner is excluded by "but invite-as-owner").
private func targetAllowed(_ cellText: String, _ target: Role, invite: Bool) -> Bool {
    switch cellText {
    case "–": return false
    case "any": return true
    case "any but invite-as-owner": return invite ? target != .owner : true
    default: return cellText.components(separatedBy: ", ").contains(target.rawValue)
    }
}

enum ActorKind: Hashable, CustomTestStringConvertible, Sendable {
    case role(Role)
    case suspendedOwner
    case nonMember
    case noActor

    static let all: [ActorKind] = Role.allCases.map(ActorKind.role) + [.suspendedOwner, .nonMember, .noActor]

    var testDescription: String {
        switch self {
        case .role(let r): r.rawValue
        case .suspendedOwner: "suspended owner"
        case .nonMember: "non-member"
        case .noActor: "no actor"
        }
    }
}

struct MatrixCase: Hashable, CustomTestStringConvertible, Sendable {
    let actor: ActorKind
    let action: Action
    let target: Role?
    let newRole: Role?

    var testDescription: String {
        var text = "\(actor.testDescription) → \(action.rawValue)"
        if let target { text += " on \(target.rawValue)" }
        if let newRole { text += " → \(newRole.rawValue)" }
        return text
    }

    /// The answer written from the spec's table.
    var expected: Bool {
        guard case .role(let role) = actor else { return false }  // suspended, non-member, no actor: nothing
        switch action {
        case .readProfile: return cell("read org profile", role) == "✓"
        case .readMembers: return cell("read member list", role) == "✓"
        case .readInvitations: return cell("read invitations", role) == "✓"
        case .readAuditLog: return cell("read audit log", role) == "✓"
        case .updateProfile: return cell("update display name / avatar", role) == "✓"
        case .createAPIKey, .revokeAPIKey: return cell("create / revoke API keys", role) == "✓"
        case .renameHandle, .resetAuth, .scheduleDeletion, .cancelDeletion:
            return cell("rename handle, reset auth, schedule / cancel deletion", role) == "✓"
        // SCIM's profile changes follow the row of remove, suspend, reinstate (README, "SCIM").
        case .invite, .revokeInvitation, .removeMember, .suspendMember, .reinstateMember, .updateDirectoryProfile:
            return targetAllowed(cell("invite, revoke invitation, remove, suspend, reinstate: target role", role), target!, invite: action == .invite)
        case .changeRole:
            let c = cell("change a role A→B (both A and B)", role)
            return targetAllowed(c, target!, invite: false) && targetAllowed(c, newRole!, invite: false)
        }
    }

    static let all: [MatrixCase] = ActorKind.all.flatMap { actor in
        Action.allCases.flatMap { action -> [MatrixCase] in
            switch action {
            case .changeRole:
                return Role.allCases.flatMap { a in Role.allCases.filter { $0 != a }.map { b in MatrixCase(actor: actor, action: action, target: a, newRole: b) } }
            case _ where action.isTargeted:
                return Role.allCases.map { MatrixCase(actor: actor, action: action, target: $0, newRole: nil) }
            default:
                return [MatrixCase(actor: actor, action: action, target: nil, newRole: nil)]
            }
        }
    }
}

@Suite("Permission matrix (product spec §2)")
struct PermissionMatrixTests {
    /// Each case runs through `decide` on a prepared org (reads through `Permissions`, which the query layer
    /// uses): allowed means the command is not refused as forbidden or unauthenticated.
    @Test("every actor × action × target role", arguments: MatrixCase.all)
    func matrix(_ c: MatrixCase) throws {
        let ledger = Ledger()
        let actorEmail = "actor@example.com"
        let target = c.target ?? .viewer
        // Two spare owners keep the last-owner rule out of the way.
        var members: [String: Role] = ["spare-owner@example.com": .owner, "target@example.com": target]
        if case .role(let r) = c.actor { members[actorEmail] = r }
        if case .suspendedOwner = c.actor { members[actorEmail] = .owner }
        let org = ledger.org("acme", owner: "founder@example.com", members: members)
        if case .suspendedOwner = c.actor { ledger.must(.suspend(email: actorEmail), by: "founder@example.com", on: org) }
        if c.action == .reinstateMember { ledger.must(.suspend(email: "target@example.com"), by: "founder@example.com", on: org) }
        // A pending invitation of the target role (built directly: owner invitations cannot be sent).
        if c.action == .revokeInvitation {
            ledger.append([.invitationSent(invitationID: "inv_target", user: email("invitee@example.com"), role: target, expiresAt: t0.adding(days: 7))], by: user("founder@example.com"), to: org)
        }
        if c.action == .revokeAPIKey || c.action == .cancelDeletion {
            ledger.must(c.action == .revokeAPIKey
                ? .createAPIKey(keyID: "key_1", name: "ci", role: "viewer", secretSHA256: String(repeating: "a", count: 64))
                : .scheduleDeletion(confirm: "acme"), by: "founder@example.com", on: org)
        }
        let actor: Actor? = c.actor == .noActor ? nil : user(c.actor == .nonMember ? "stranger@example.com" : actorEmail)

        let allowed: Bool
        if let command = command(for: c) {
            let result = ledger.run(command, by: actor, on: org)
            switch result {
            case .success: allowed = true
            case .failure(let refusal):
                #expect(refusal.kind != .invalid, "a well-formed command was refused as invalid: \(refusal)")
                allowed = refusal.kind != .forbidden && refusal.kind != .unauthenticated
                if allowed { Issue.record("permitted but refused: \(refusal)") }
            }
        } else {
            allowed = Permissions.allows(ledger.orgs[org]!.standing(of: actor), c.action)
        }
        #expect(allowed == c.expected)
    }

    private func command(for c: MatrixCase) -> Command? {
        switch c.action {
        case .readProfile, .readMembers, .readInvitations, .readAuditLog: nil
        case .updateProfile: .updateProfile(displayName: "New name", avatarURL: nil)
        case .invite: .invite(emails: ["new@example.com"], role: c.target!.rawValue, ttlDays: nil, invitationIDs: ["inv_new"])
        case .revokeInvitation: .revokeInvitation(id: "inv_target")
        case .removeMember: .remove(email: "target@example.com")
        case .suspendMember: .suspend(email: "target@example.com")
        case .reinstateMember: .reinstate(email: "target@example.com")
        case .updateDirectoryProfile: .updateDirectoryMember(member: .email("target@example.com"), profile: DirectoryProfile(userName: "target"), active: nil)
        case .changeRole: .changeRole(email: "target@example.com", role: c.newRole!.rawValue)
        case .createAPIKey: .createAPIKey(keyID: "key_new", name: "deploy", role: "viewer", secretSHA256: String(repeating: "b", count: 64))
        case .revokeAPIKey: .revokeAPIKey(keyID: "key_1")
        case .renameHandle: .renameHandle("acme-two")
        case .resetAuth: .resetAuth
        case .scheduleDeletion: .scheduleDeletion(confirm: "acme")
        case .cancelDeletion: .cancelDeletion
        }
    }
}
