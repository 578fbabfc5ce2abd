/// A normalized email address: trimmed, lower-cased, at most 254 characters, exactly one `@`, a non-empty
/// local part and a domain with a dot (no empty labels), no spaces or control characters.
public struct Email: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let value: String

    public static let maximumLength = 254

    public static func parse(_ raw: String, field: String = "email") -> Result<Email, FieldError> {
        func fail(_ message: String) -> Result<Email, FieldError> { .failure(FieldError(field: field, message: message)) }
        let trimmed = raw.trimmingWhitespace().lowercased()
        guard !trimmed.isEmpty else { return fail("must not be empty") }
        guard trimmed.count <= maximumLength else { return fail("must be at most \(maximumLength) characters") }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) else {
            return fail("must not contain spaces or control characters")
        }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return fail("must contain exactly one '@'") }
        let (local, domain) = (parts[0], parts[1])
        guard !local.isEmpty else { return fail("the part before '@' must not be empty") }
        guard domain.contains("."), !domain.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) else {
            return fail("the domain must contain a dot and no empty labels")
        }
        return .success(Email(trusted: trimmed))
    }

    /// For values read back from the log, which were validated when written.
    public init(trusted value: String) { self.value = value }

    public var description: String { value }
    public static func < (a: Email, b: Email) -> Bool { a.value < b.value }
}

extension String {
    /// Trims Unicode white space (and newlines) at both ends, without Foundation.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[first...last])
    }
}
