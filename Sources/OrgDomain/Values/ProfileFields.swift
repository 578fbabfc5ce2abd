/// Display names and avatar URLs: the profile rules of product spec §1 and their written-down details.
public enum DisplayName {
    /// Characters (grapheme clusters), what a person counts.
    public static let maximumLength = 100
    /// UTF-8 bytes, what storage counts: one grapheme can be a megabyte of combining marks.
    public static let maximumBytes = 1024

    /// Trimmed and NFC; 1–100 characters and at most 1,024 UTF-8 bytes; at least one visible character
    /// (`TextRules.isVisible`: a name of only spaces or invisible characters is refused); no control
    /// characters, line or paragraph separators, or bidi controls (they let a name display as something
    /// it is not).
    public static func parse(_ raw: String, field: String = "display_name") -> Result<String, FieldError> {
        func fail(_ message: String) -> Result<String, FieldError> { .failure(FieldError(field: field, message: message)) }
        let tooLong = "must be at most \(maximumLength) characters and \(maximumBytes) bytes of UTF-8"
        guard raw.utf8.count <= 4 * maximumBytes else { return fail(tooLong) }
        let trimmed = TextRules.nfc(raw.trimmingWhitespace())
        guard !trimmed.isEmpty else { return fail("must not be empty") }
        guard trimmed.count <= maximumLength, trimmed.utf8.count <= maximumBytes else { return fail(tooLong) }
        if trimmed.unicodeScalars.contains(where: TextRules.isForbiddenInDisplayText) {
            return fail("must not contain control, line-separator or bidi characters")
        }
        guard trimmed.unicodeScalars.contains(where: TextRules.isVisible) else { return fail("must contain a visible character") }
        return .success(trimmed)
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
        guard !raw.unicodeScalars.contains(where: TextRules.isForbiddenInIdentifier) else {
            return fail("must not contain spaces, control, format, invisible or bidi characters")
        }
        // Scalars, not characters: `@` or `/` followed by a combining mark is still an `@` or a `/` to a browser.
        let rest = raw.unicodeScalars.dropFirst("https://".count)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        guard !authority.isEmpty else { return fail("must name a host") }
        guard !authority.contains("@") else { return fail("must not contain user information") }
        return .success("https://" + String(String.UnicodeScalarView(rest)))
    }
}

/// An API key's name: the display-name rules, 1–100 characters.
public enum KeyName {
    public static func parse(_ raw: String) -> Result<String, FieldError> { DisplayName.parse(raw, field: "name") }
}
