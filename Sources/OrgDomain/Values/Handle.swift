/// An org's DNS-safe handle: 1–39 of `a-z 0-9 -`, no leading, trailing or double hyphen, not reserved.
///
/// Case-insensitive: input is lower-cased; anything else outside the alphabet is refused (not trimmed,
/// not transliterated).
public struct Handle: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: String

    /// Names that would collide with routes, tooling or trust (`admin`, `api`, `system`, …).
    public static let reserved: Set<String> = [
        "about", "admin", "administrator", "api", "app", "assets", "auth", "billing", "blog", "dashboard",
        "docs", "health", "help", "invitations", "login", "logout", "me", "metrics", "new", "null", "org",
        "orgs", "orgledger", "owner", "root", "security", "settings", "signup", "static", "status",
        "support", "system", "undefined", "v1", "www",
    ]

    public static let maximumLength = 39

    /// Validated construction: `field` names the input in the error.
    public static func parse(_ raw: String, field: String = "handle") -> Result<Handle, FieldError> {
        // ASCII lower-casing only: Unicode's would map the Kelvin sign U+212A to `k` and let it through.
        let lowered = String(decoding: raw.utf8.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }, as: UTF8.self)
        func fail(_ message: String) -> Result<Handle, FieldError> { .failure(FieldError(field: field, message: message)) }
        guard !lowered.isEmpty else { return fail("must not be empty") }
        guard lowered.utf8.count <= maximumLength else { return fail("must be at most \(maximumLength) characters") }
        guard lowered.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }) else {
            return fail("may contain only a-z, 0-9 and '-'")
        }
        guard !lowered.hasPrefix("-"), !lowered.hasSuffix("-") else { return fail("must not start or end with '-'") }
        guard !lowered.contains("--") else { return fail("must not contain '--'") }
        guard !reserved.contains(lowered) else { return fail("'\(lowered)' is reserved") }
        return .success(Handle(trusted: lowered))
    }

    /// For values read back from the log, which were validated when written.
    public init(trusted value: String) { self.value = value }

    public var description: String { value }
    public static func < (a: Handle, b: Handle) -> Bool { a.value < b.value }
}
