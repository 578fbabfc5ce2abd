import LedgerCore

/// A user's account standing (product spec §7).
public enum UserStatus: String, Sendable, Hashable, CaseIterable {
    case active
    /// Deletion scheduled: may read `/v1/me` and cancel, nothing else; counts as no owner.
    case pendingDeletion = "pending_deletion"
    /// Made for an email that belonged to an erased user: may read and update `/v1/me` until an
    /// operator activates it.
    case activationRequired = "activation_required"
    /// Purged: the id stays in the log, every personal value is gone.
    case erased
}

/// One user as their own stream makes them. No personal value is here: the log holds only
/// commitments, so a replay knows a user's standing, not their email; the values live in the
/// personal-data store and the users view.
public struct UserState: Sendable, Hashable {
    public var id: UserID
    public var status: UserStatus
    public var createdAt: Timestamp
    /// The stream version: the number of events applied.
    public var version: UInt64
    public var deletionScheduledAt: Timestamp?
    public var purgeAt: Timestamp?

    public init(id: UserID, status: UserStatus, createdAt: Timestamp, version: UInt64) {
        self.id = id
        self.status = status
        self.createdAt = createdAt
        self.version = version
    }
}

/// Folds one user event into the user's state; the writer and every replay use this one function.
public func apply(_ state: inout UserState?, _ event: UserEvent, stream: UserID, _ context: EventContext) {
    if case .created(_, let activationRequired) = event {
        state = UserState(id: stream, status: activationRequired ? .activationRequired : .active, createdAt: context.at, version: context.version)
        return
    }
    guard var user = state.take() else { return }
    user.version = context.version
    switch event {
    case .created, .profileUpdated, .emailChanged:
        break
    case .deletionScheduled(let purgeAt):
        user.status = .pendingDeletion
        user.deletionScheduledAt = context.at
        user.purgeAt = purgeAt
    case .deletionCanceled:
        user.status = .active
        user.deletionScheduledAt = nil
        user.purgeAt = nil
    case .activated:
        user.status = .active
    case .erased:
        user.status = .erased
        user.deletionScheduledAt = nil
        user.purgeAt = nil
    }
    state = user
}
