/// The numbers of product spec §1 and §3, in one place.
public enum Policy {
    /// An invitation lives this many days unless the request says otherwise.
    public static let defaultInvitationTTLDays = 7
    public static let invitationTTLDays = 1...30
    /// The most emails one invitation request may carry.
    public static let maximumInvitationEmails = 100
    /// A former handle stays held by its org this long after a rename.
    public static let handleHoldDays = 30
    /// A scheduled deletion is purged this long after it was scheduled.
    public static let deletionGraceDays = 30
    /// Unrevoked API keys of the current auth epoch an org may hold: `org.auth_reset` lists them all.
    public static let maximumUnrevokedKeys = 100
}
