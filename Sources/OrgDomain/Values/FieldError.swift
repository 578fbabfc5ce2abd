/// One invalid input field: `field` names it as the API spells it (`emails[2]`, `display_name`).
public struct FieldError: Error, Sendable, Hashable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
