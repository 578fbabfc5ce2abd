/// Whether an API key verifies, and if not, why (product spec §1). The one home of that rule: `verify`,
/// the key list and the projections all ask `APIKey.status(in:)`.
public enum KeyStatus: Sendable, Hashable {
    case active
    case revoked
    case void(VoidReason)

    public enum VoidReason: String, Sendable, Hashable, CaseIterable {
        /// Issued before the org's last auth reset.
        case authReset = "auth_reset"
        /// The membership the key was made in has ended (left, removed; a re-join is another membership).
        case creatorLeft = "creator_left"
        case creatorSuspended = "creator_suspended"
        /// The creator's role could no longer create this key.
        case creatorDemoted = "creator_demoted"
        /// The creator's account deletion is scheduled (product spec §7).
        case creatorPendingDeletion = "creator_pending_deletion"
        /// The org is pending deletion (or purged).
        case orgInactive = "org_inactive"
    }

    /// `active`, `revoked` or `void`: the `status` of a key row.
    public var name: String {
        switch self {
        case .active: "active"
        case .revoked: "revoked"
        case .void: "void"
        }
    }

    /// The status once the creator's account standing is known: a key that would be active is void
    /// while its creator's deletion is scheduled (the last check of `APIKey.status`, so views that keep
    /// the org-side status can apply it when they show a key).
    public func withCreator(pendingDeletion: Bool) -> KeyStatus {
        self == .active && pendingDeletion ? .void(.creatorPendingDeletion) : self
    }

    public var voidReason: VoidReason? {
        if case .void(let reason) = self { return reason }
        return nil
    }
}

extension APIKey {
    /// A key verifies only while it is not revoked, was issued after the org's last auth reset, the org
    /// is active, and its creator could create that very key now, in the same membership: active, with
    /// a role allowed to create keys and to grant this key's role (`Permissions.keyRoles`), and an
    /// account not pending deletion (`creatorPendingDeletion`: the caller's lookup of the creator's account).
    public func status(in org: OrgState, creatorPendingDeletion: Bool = false) -> KeyStatus {
        if revoked { return .revoked }
        // Checked before the org's status: a key of an older epoch is void for good, whatever comes, so
        // only the (at most `Policy.maximumUnrevokedKeys`) keys of the current epoch can change status.
        if authEpoch != org.authEpoch { return .void(.authReset) }
        if org.status != .active { return .void(.orgInactive) }
        guard let creator = org.members[createdBy], creator.membership == creatorMembership else { return .void(.creatorLeft) }
        guard creator.status == .active else { return .void(.creatorSuspended) }
        guard Permissions.allows(.active(creator.role), .createAPIKey), Permissions.keyRoles(for: creator.role).contains(role) else {
            return .void(.creatorDemoted)
        }
        return KeyStatus.active.withCreator(pendingDeletion: creatorPendingDeletion)
    }
}

extension OrgState {
    /// The keys whose status can still change: unrevoked, of the current auth epoch. At most
    /// `Policy.maximumUnrevokedKeys`; an auth reset voids exactly these.
    public var liveKeys: [APIKey] {
        apiKeys.values.filter { !$0.revoked && $0.authEpoch == authEpoch }
    }
}
