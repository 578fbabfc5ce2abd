import LedgerCore
import OrgDomain

/// One audit index entry, decoded.
public struct AuditEntry: Sendable, Hashable {
    public let seq: UInt64
    public let at: Timestamp
    public let actor: String
    public let action: String
    public let target: String?

    public init(seq: UInt64, at: Timestamp, actor: String, action: String, target: String?) {
        self.seq = seq
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
    }
}

/// Filters of `GET /v1/orgs/{org}/audit` and `orgledger audit`.
public struct AuditFilter: Sendable, Hashable {
    public var actor: String?
    public var action: String?
    public var target: String?
    /// At or after.
    public var since: Timestamp?
    /// Before.
    public var until: Timestamp?

    /// `actor` and `target` are compared as the log records them: a person by user id (the caller
    /// resolves an email first), anything else as given.
    public init(actor: String? = nil, action: String? = nil, target: String? = nil, since: Timestamp? = nil, until: Timestamp? = nil) {
        self.actor = actor
        self.action = action
        self.target = target
        self.since = since
        self.until = until
    }

    public func accepts(_ e: AuditEntry) -> Bool {
        if let actor, e.actor != actor { return false }
        if let action, e.action != action { return false }
        if let target, e.target != target { return false }
        if let since, e.at < since { return false }
        if let until, e.at >= until { return false }
        return true
    }
}

/// The audit log's three output formats, shared by `GET /v1/orgs/{org}/audit` and `orgledger audit`.
public enum AuditFormat: String, Sendable, CaseIterable {
    case json, ndjson, csv

    /// NDJSON: one canonical row per line.
    public static func ndjson(_ rows: [(entry: AuditEntry, row: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for row in rows { out += row.row; out.append(UInt8(ascii: "\n")) }
        return out
    }

    /// CSV (RFC 4180) with a header: seq, at, actor, action, target, data (the data as canonical JSON);
    /// people as the rows show them (current email, or `[erased]`).
    public static func csv(_ rows: [(entry: AuditEntry, row: [UInt8])]) -> String {
        var out = "seq,at,actor,action,target,data\n"
        for row in rows {
            let parsed = try? JSONParser.parse(row.row)
            let data = parsed?["data"]?.description ?? ""
            let actor = parsed?["actor"]?.stringValue ?? row.entry.actor, target = parsed?["target"]?.stringValue ?? row.entry.target ?? ""
            let fields = [String(row.entry.seq), row.entry.at.rfc3339, actor, row.entry.action, target, data]
            out += fields.map(csvField).joined(separator: ",") + "\n"
        }
        return out
    }

    /// RFC 4180 quoting. A field whose first Unicode scalar can start a spreadsheet formula (`=`, `+`,
    /// `-`, `@`, their fullwidth forms `＝＋－＠`, tab or carriage return) is prefixed with `'`. The first
    /// *scalar*, not the first character: `=` followed by a combining mark or a joiner is one character
    /// that is not `=`, yet spreadsheets still read the `=`.
    public static func csvField(_ value: String) -> String {
        var v = value
        if let first = v.unicodeScalars.first, formulaStarters.contains(first) { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }

    static let formulaStarters: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\u{FF1D}", "\u{FF0B}", "\u{FF0D}", "\u{FF20}", "\t", "\r"]
}
