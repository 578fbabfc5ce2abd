import Foundation
import HTTPTypes
import LedgerCore

/// A SCIM filter (RFC 7644 §3.4.2.2) of the subset product spec §10 takes: comparisons `attr eq value`
/// joined by `and`, with parentheses; `emails[type eq "work"].value` as a path. Anything else (`or`,
/// `not`, other operators) is refused as `400 invalidFilter`, never guessed at.
struct SCIMFilter: Equatable {
    struct Comparison: Equatable {
        /// The attribute path, lower-cased, without a schema URN: `username`, `emails.value`, `name.givenname`.
        let path: String
        /// For `emails[type eq "work"].value`: the `type` the brackets ask for (lower-cased).
        let valueFilterType: String?
        let value: JSONValue
    }

    let comparisons: [Comparison]

    /// A filter is at most this long: a longer one is no IdP's lookup.
    static let maximumBytes = 4096

    static func parse(_ text: String) throws(APIError) -> SCIMFilter {
        guard text.utf8.count <= maximumBytes else { throw invalid("a filter is at most \(maximumBytes) bytes") }
        var parser = Parser(tokens: try tokenize(text))
        let comparisons = try parser.conjunction()
        guard parser.atEnd else { throw invalid("unexpected \(parser.peekDescription) after a complete filter") }
        return SCIMFilter(comparisons: comparisons)
    }

    static func invalid(_ detail: String) -> APIError {
        APIError(.badRequest, reason: "invalid_filter", detail: "filter: \(detail); OrgLedger takes eq comparisons joined by and", scimType: "invalidFilter")
    }

    /// A path as compared: lower case, a core schema URN dropped (`urn:…:User:userName` is `userName`).
    static func normalizedPath(_ raw: String) -> String {
        let lower = raw.lowercased()
        for urn in [SCIM.userSchema, SCIM.groupSchema].map({ $0.lowercased() + ":" }) where lower.hasPrefix(urn) {
            return String(lower.dropFirst(urn.count))
        }
        return lower
    }

    enum Token: Equatable {
        case word(String)
        case string(String)
        case open, close, openBracket, closeBracket
    }

    static func tokenize(_ text: String) throws(APIError) -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            switch c {
            case " ", "\t":
                i += 1
            case "(": tokens.append(.open); i += 1
            case ")": tokens.append(.close); i += 1
            case "[": tokens.append(.openBracket); i += 1
            case "]": tokens.append(.closeBracket); i += 1
            case "\"":
                // A JSON string: read to its closing quote (escapes skipped), then parsed as JSON.
                var j = i + 1
                while j < scalars.count, scalars[j] != "\"" { j += scalars[j] == "\\" ? 2 : 1 }
                guard j < scalars.count else { throw invalid("a string is not closed") }
                var literal = String.UnicodeScalarView()
                literal.append(contentsOf: scalars[i...j])
                guard case .string(let value)? = try? JSONParser.parse(Array(String(literal).utf8)) else { throw invalid("a string is not a valid JSON string") }
                tokens.append(.string(value))
                i = j + 1
            default:
                var j = i
                while j < scalars.count, !" \t()[]\"".unicodeScalars.contains(scalars[j]) { j += 1 }
                var word = String.UnicodeScalarView()
                word.append(contentsOf: scalars[i..<j])
                tokens.append(.word(String(word)))
                i = j
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        var position = 0

        init(tokens: [Token]) { self.tokens = tokens }

        var atEnd: Bool { position == tokens.count }
        var peekDescription: String {
            guard position < tokens.count else { return "the end" }
            switch tokens[position] {
            case .word(let w): return "'\(w)'"
            case .string(let s): return "\"\(s)\""
            case .open: return "'('"
            case .close: return "')'"
            case .openBracket: return "'['"
            case .closeBracket: return "']'"
            }
        }

        static let maximumDepth = 16
        var depth = 0

        mutating func next() -> Token? {
            guard position < tokens.count else { return nil }
            defer { position += 1 }
            return tokens[position]
        }

        mutating func keyword(_ word: String) -> Bool {
            guard position < tokens.count, case .word(let w) = tokens[position], w.lowercased() == word else { return false }
            position += 1
            return true
        }

        mutating func conjunction() throws(APIError) -> [Comparison] {
            var out = try primary()
            while true {
                if keyword("and") {
                    out += try primary()
                } else if keyword("or") {
                    throw SCIMFilter.invalid("'or' is not supported")
                } else {
                    return out
                }
            }
        }

        mutating func primary() throws(APIError) -> [Comparison] {
            if position < tokens.count, tokens[position] == .open {
                // Each '(' recurses: a bound keeps a hostile filter of thousands from exhausting the stack.
                depth += 1
                defer { depth -= 1 }
                guard depth <= Self.maximumDepth else { throw SCIMFilter.invalid("parentheses nest at most \(Self.maximumDepth) deep") }
                position += 1
                let inner = try conjunction()
                guard next() == .close else { throw SCIMFilter.invalid("a '(' is not closed") }
                return inner
            }
            if keyword("not") { throw SCIMFilter.invalid("'not' is not supported") }
            guard case .word(let attribute)? = next() else { throw SCIMFilter.invalid("an attribute path is expected, not \(peekDescription)") }
            var path = SCIMFilter.normalizedPath(attribute)
            var valueFilterType: String?
            if position < tokens.count, tokens[position] == .openBracket {
                // Only `emails[type eq "…"]`, optionally followed by `.value`.
                position += 1
                guard case .word(let inner)? = next(), inner.lowercased() == "type", keyword("eq"), case .string(let type)? = next(), next() == .closeBracket else {
                    throw SCIMFilter.invalid("a value filter is [type eq \"…\"]")
                }
                valueFilterType = type.lowercased()
                if position < tokens.count, case .word(let rest) = tokens[position], rest.hasPrefix(".") {
                    position += 1
                    path += rest.lowercased()
                }
            }
            guard case .word(let op)? = next() else { throw SCIMFilter.invalid("an operator is expected after \(attribute)") }
            guard op.lowercased() == "eq" else { throw SCIMFilter.invalid("the operator '\(op)' is not supported") }
            let value: JSONValue
            switch next() {
            case .string(let s)?: value = .string(s)
            case .word(let w)? where w.lowercased() == "true": value = .bool(true)
            case .word(let w)? where w.lowercased() == "false": value = .bool(false)
            case .word(let w)? where w.lowercased() == "null": value = .null
            case .word(let w)?:
                guard let n = Int64(w) else { throw SCIMFilter.invalid("'\(w)' is not a value") }
                value = .int(n)
            default: throw SCIMFilter.invalid("a value is expected after eq")
            }
            return [Comparison(path: path, valueFilterType: valueFilterType, value: value)]
        }
    }
}
