/// Display names and avatar URLs: the profile rules of product spec §1 and their written-down details.
public enum DisplayName {
    public static let maximumLength = 100

    /// Trimmed; 1–100 characters (grapheme clusters); no control characters, line or paragraph separators,
    /// or bidirectional overrides/isolates (they let a name display as something it is not).
    public static func parse(_ raw: String, field: String = "display_name") -> Result<String, FieldError> {
        func fail(_ message: String) -> Result<String, FieldError> { .failure(FieldError(field: field, message: message)) }
        let trimmed = raw.trimmingWhitespace()
        guard !trimmed.isEmpty else { return fail("must not be empty") }
        guard trimmed.count <= maximumLength else { return fail("must be at most \(maximumLength) characters") }
        if trimmed.unicodeScalars.contains(where: isForbidden) {
            return fail("must not contain control characters")
        }
        return .success(trimmed)
    }

    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return scalar.properties.generalCategory == .control
        }
    }
}

public enum AvatarURL {
    public static let maximumLength = 2048

    /// An absolute `https` URL with a host and no user-info, at most 2048 characters, no spaces or control
    /// characters. The scheme is lower-cased; nothing else is changed.
    public static func parse(_ raw: String, field: String = "avatar_url") -> Result<String, FieldError> {
        func fail(_ message: String) -> Result<String, FieldError> { .failure(FieldError(field: field, message: message)) }
        guard raw.utf8.count <= maximumLength else { return fail("must be at most \(maximumLength) characters") }
        guard raw.lowercased().hasPrefix("https://") else { return fail("must be an https URL") }
        guard !raw.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) else {
            return fail("must not contain spaces or control characters")
        }
        let rest = raw.dropFirst("https://".count)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        guard !authority.isEmpty else { return fail("must name a host") }
        guard !authority.contains("@") else { return fail("must not contain user information") }
        return .success("https://" + rest)
    }
}

/// An API key's name: the display-name rules, 1–100 characters.
public enum KeyName {
    public static func parse(_ raw: String) -> Result<String, FieldError> { DisplayName.parse(raw, field: "name") }
}
