import LedgerCore

/// One personal value disclosed beside an export (product spec §8): `{field, salt, seq, value}` as
/// NDJSON, `field` an RFC 6901 pointer into the envelope of `seq`, `salt` lower-case hex. Whoever holds
/// the export and the disclosure can check the value against the commitment the log holds.
public struct DisclosureLine: Sendable, Hashable {
    public let seq: UInt64
    public let field: String
    public let salt: [UInt8]
    public let value: String

    public init(seq: UInt64, field: String, salt: [UInt8], value: String) {
        self.seq = seq
        self.field = field
        self.salt = salt
        self.value = value
    }

    /// The line's canonical JSON (without the newline).
    public var json: [UInt8] {
        let object: JSONValue = ["field": .string(field), "salt": .string(Hex.encode(salt)), "seq": .int(Int64(seq)), "value": .string(value)]
        return (try? CanonicalJSON.encode(object)) ?? []
    }

    /// Reads a line; nil with why it is not a disclosure line.
    public static func parse(_ line: [UInt8]) -> Result<DisclosureLine, DisclosureProblem> {
        guard case .object(let m)? = try? JSONParser.parse(line), m.count == 4, case .int(let seq)? = m["seq"], seq >= 1,
            case .string(let field)? = m["field"], field.hasPrefix("/"), case .string(let saltHex)? = m["salt"],
            let salt = Hex.decode(saltHex), salt.count == PersonalValue.saltBytes, case .string(let value)? = m["value"]
        else {
            return .failure(DisclosureProblem(seq: nil, field: nil, reason: "not a disclosure line ({field, salt: 64 hex digits, seq, value})"))
        }
        return .success(DisclosureLine(seq: UInt64(seq), field: field, salt: salt, value: value))
    }

    /// Why this line does not open the commitment at `field` in `envelope` (the envelope of `seq`), or nil.
    public func problem(in envelope: JSONValue) -> DisclosureProblem? {
        func fail(_ reason: String) -> DisclosureProblem { DisclosureProblem(seq: seq, field: field, reason: reason) }
        guard let target = Self.resolve(pointer: field, in: envelope) else { return fail("the envelope has no such member") }
        guard let commitment = try? PersonalValue(json: target) else { return fail("the member is not a commitment {\"c\": …}") }
        guard commitment.isOpened(bySalt: salt, value: value) else { return fail("the salt and value do not open the commitment") }
        return nil
    }

    /// RFC 6901: `/a/b` walks objects by member name (`~1` is `/`, `~0` is `~`); nil when a step is missing.
    public static func resolve(pointer: String, in document: JSONValue) -> JSONValue? {
        guard pointer.hasPrefix("/") else { return pointer.isEmpty ? document : nil }
        var current = document
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let name = String(token).replacing("~1", with: "/").replacing("~0", with: "~")
            guard case .object(let members) = current, let next = members[name] else { return nil }
            current = next
        }
        return current
    }
}

/// Why a disclosure does not check out: its seq and field when known.
public struct DisclosureProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public let seq: UInt64?
    public let field: String?
    public let reason: String

    public init(seq: UInt64?, field: String?, reason: String) {
        self.seq = seq
        self.field = field
        self.reason = reason
    }

    public var description: String {
        switch (seq, field) {
        case (let seq?, let field?): "seq \(seq), field \(field): \(reason)"
        default: reason
        }
    }
}
