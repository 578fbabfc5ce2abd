import LedgerCore

/// What an identity provider keeps about one member of one org over SCIM (product spec §10): `userName`,
/// `externalId`, `displayName` and `name`, as the request gave them. All four are personal values (§8):
/// an event carries only their commitments (`CommittedDirectoryProfile`). When the membership ends the
/// `userName` is freed in the org; the values stay, like every personal value of the user, until the
/// user's erasure.
public struct DirectoryProfile: Sendable, Hashable {
    public var userName: String
    public var externalID: String?
    public var displayName: String?
    /// SCIM's `name` object (`givenName`, `familyName`, …) as canonical JSON text: one value.
    public var name: String?

    public init(userName: String, externalID: String? = nil, displayName: String? = nil, name: String? = nil) {
        self.userName = userName
        self.externalID = externalID
        self.displayName = displayName
        self.name = name
    }

    /// A `userName`, `externalId` or `displayName` is at most this many UTF-8 bytes.
    public static let maximumValueBytes = 256
    /// The canonical JSON of `name` is at most this many UTF-8 bytes.
    public static let maximumNameBytes = 1024

    /// Every field that breaks its rule (SCIM attribute names): non-empty, within its byte limit, no
    /// control, line separator or bidi control (the rules of display text); `userName` is an identifier,
    /// so no white space or invisible scalar either (`bob`, `bob ` and `bob\u{200B}` would otherwise be
    /// three users who look the same).
    public var problems: [FieldError] {
        var errors: [FieldError] = []
        func check(_ field: String, _ value: String?, limit: Int, forbidden: (Unicode.Scalar) -> Bool = TextRules.isForbiddenInDisplayText) {
            guard let value else { return }
            if value.isEmpty || !value.unicodeScalars.contains(where: TextRules.isVisible) {
                errors.append(FieldError(field: field, message: "must not be empty"))
            } else if value.utf8.count > limit {
                errors.append(FieldError(field: field, message: "must be at most \(limit) bytes"))
            } else if let bad = value.unicodeScalars.first(where: forbidden) {
                errors.append(FieldError(field: field, message: "must not contain the character U+\(String(bad.value, radix: 16, uppercase: true))"))
            }
        }
        check("userName", userName, limit: Self.maximumValueBytes, forbidden: TextRules.isForbiddenInIdentifier)
        check("externalId", externalID, limit: Self.maximumValueBytes)
        check("displayName", displayName, limit: Self.maximumValueBytes)
        check("name", name, limit: Self.maximumNameBytes)
        return errors
    }

    /// The one spelling two `userName`s are compared by (unique per org, case-insensitively): NFC, then
    /// lower case.
    public static func userNameKey(_ userName: String) -> String { TextRules.nfc(userName).lowercased() }

    /// The profile committed to under fresh salts (`commit`: the caller's randomness).
    public func committed(_ commit: (String) -> PersonalValue) -> CommittedDirectoryProfile {
        CommittedDirectoryProfile(userName: commit(userName), externalID: externalID.map(commit), displayName: displayName.map(commit), name: name.map(commit))
    }
}

/// A directory profile as an event holds it: commitments only (with their salts and values while the
/// command that made them runs, for the personal-data store). A final class: one word in the event.
public final class CommittedDirectoryProfile: Sendable, Hashable {
    public let userName: PersonalValue
    public let externalID: PersonalValue?
    public let displayName: PersonalValue?
    public let name: PersonalValue?

    public init(userName: PersonalValue, externalID: PersonalValue?, displayName: PersonalValue?, name: PersonalValue?) {
        self.userName = userName
        self.externalID = externalID
        self.displayName = displayName
        self.name = name
    }

    /// The fields by their names in an event's `data` (`user_name`, `external_id`, `display_name`, `name`).
    public var fields: [(String, PersonalValue?)] {
        [("user_name", userName), ("external_id", externalID), ("display_name", displayName), ("name", name)]
    }

    public static func == (a: CommittedDirectoryProfile, b: CommittedDirectoryProfile) -> Bool {
        a.userName == b.userName && a.externalID == b.externalID && a.displayName == b.displayName && a.name == b.name
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(userName) }
}
