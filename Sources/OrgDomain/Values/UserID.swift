/// A person as every event names them (product spec §7): `usr_` + 26 base32 characters, made once and
/// never reused. Emails, names and every other personal value stay out of the log; the API speaks
/// emails and resolves them to these ids at its edge.
public struct UserID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: String

    /// An id read from a stored event or view: trusted, not checked again.
    public init(trusted value: String) { self.value = value }

    /// An id named from outside (an import, a query): of the service's shape, or nil.
    public init?(checking raw: String) {
        guard ResourceID.isWellFormed(raw, prefix: Self.prefix) else { return nil }
        value = raw
    }

    public static let prefix = "usr"

    public var description: String { value }

    /// Byte order, the order of every table keyed by user id.
    public static func < (a: UserID, b: UserID) -> Bool { TextRules.bytesPrecede(a.value, b.value) }
}
