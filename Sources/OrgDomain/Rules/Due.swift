import LedgerCore

/// What the service must append on its own (actor `system`) for this org at `now`: invitations past
/// their expiry, former handles past their hold, and the purge when the deletion's 30 days are over.
/// Pure: a function of the state and the time. Appending the result and asking again yields nothing, so
/// each due event happens exactly once.
public func dueEvents(_ state: OrgState, now: Timestamp) -> [OrgEvent] {
    guard state.status != .purged else { return [] }
    var events: [OrgEvent] = []
    let expired = state.invitations.pendingValues
        .filter { $0.expiresAt <= now }
        .sorted { ($0.expiresAt, $0.id) < ($1.expiresAt, $1.id) }
    for invitation in expired {
        events.append(.invitationExpired(invitationID: invitation.id, user: invitation.invitee))
    }
    for (handle, until) in state.heldHandles.sorted(by: { $0.key < $1.key }) where until <= now {
        events.append(.handleReleased(handle: handle))
    }
    if state.status == .pendingDeletion, let purgeAt = state.purgeAt, purgeAt <= now {
        events.append(.purged(handle: state.handle))
    }
    return events
}

/// The earliest time at which `dueEvents` will have something for this org, or nil (for scheduling).
public func nextDueTime(_ state: OrgState) -> Timestamp? {
    guard state.status != .purged else { return nil }
    var times = state.invitations.pendingValues.map(\.expiresAt)
    times.append(contentsOf: state.heldHandles.values)
    if state.status == .pendingDeletion, let purgeAt = state.purgeAt { times.append(purgeAt) }
    return times.min()
}
