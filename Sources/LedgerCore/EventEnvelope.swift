#if canImport(Glibc)
import Glibc
#endif
/// Request context recorded with an event (`meta`): where a command came from, never what it did.
/// `client_ip` and `user_agent` are personal values (product spec §8): the envelope holds only their
/// commitments; the values themselves go to the personal-data store and are erased after the retention.
///
/// Keep its stored layout at 64 bytes (three optional strings, two class references): swiftc 6.3.1
/// mis-sizes the async frames of tests that hold an `EventEnvelope` when it changes (AddressSanitizer:
/// heap-buffer-overflow in the task allocator; both 48 and 80 bytes failed, 64 passes). README, "Notes
/// for contributors".
public struct EventMeta: Sendable, Hashable {
    public var requestId: String?
    public var clientIP: PersonalValue?
    public var userAgent: PersonalValue?
    public var idempotencyKey: String?
    /// How the command arrived when not through the REST API (product spec §4, §10): `meta.via` and
    /// `meta.api_key_id`. An enum with one string payload, so the meta keeps its size (16 bytes here).
    public var via: Via?

    public init(requestId: String? = nil, clientIP: PersonalValue? = nil, userAgent: PersonalValue? = nil, idempotencyKey: String? = nil, via: Via? = nil) {
        self.requestId = requestId
        self.clientIP = clientIP
        self.userAgent = userAgent
        self.idempotencyKey = idempotencyKey
        self.via = via
    }

    public enum Field: String, Sendable, CaseIterable {
        case requestId = "request_id", clientIP = "client_ip", userAgent = "user_agent", idempotencyKey = "idempotency_key"
    }

    /// The same context committed again under fresh salts: each event of a command gets its own
    /// commitments, so two events cannot be linked by an equal commitment (product spec §8).
    public func recommitted() -> EventMeta {
        var copy = self
        copy.clientIP = clientIP.map { value in value.disclosed.map { PersonalValue(committing: $0.value) } ?? value }
        copy.userAgent = userAgent.map { value in value.disclosed.map { PersonalValue(committing: $0.value) } ?? value }
        return copy
    }

    /// The personal values committed to, with their pointers into the envelope.
    public var disclosures: [Disclosure] {
        var out: [Disclosure] = []
        if let clientIP { out.append(Disclosure(pointer: "/meta/client_ip", value: clientIP)) }
        if let userAgent { out.append(Disclosure(pointer: "/meta/user_agent", value: userAgent)) }
        return out
    }

    /// A recorded value is at most this many UTF-8 bytes.
    public static let maximumValueBytes = 512
    /// An idempotency key is part of an LMDB key (at most 511 bytes with the actor's email).
    public static let maximumIdempotencyKeyBytes = 255

    /// Why `value` cannot be recorded as `field`, or nil: the one home of these rules (the API checks
    /// each header with it, an import each recorded envelope). No C0 or C1 control, DEL, line or
    /// paragraph separator, bidi control or U+FFFD (bytes that were not UTF-8); at most 512 bytes; `client_ip` an IPv4 or IPv6 address;
    /// `idempotency_key` 1–255 printable ASCII characters.
    public static func problem(_ field: Field, _ value: String) -> String? {
        if value.isEmpty { return "must not be empty" }
        if value.utf8.count > maximumValueBytes { return "must be at most \(maximumValueBytes) bytes" }
        if let bad = value.unicodeScalars.first(where: isForbidden) {
            return "must not contain the character U+\(String(bad.value, radix: 16, uppercase: true))"
        }
        switch field {
        case .clientIP:
            var v4 = in_addr(), v6 = in6_addr()
            guard inet_pton(AF_INET, value, &v4) == 1 || inet_pton(AF_INET6, value, &v6) == 1 else { return "must be an IPv4 or IPv6 address" }
        case .idempotencyKey:
            guard value.utf8.count <= maximumIdempotencyKeyBytes, value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                return "must be 1–\(maximumIdempotencyKeyBytes) printable ASCII characters"
            }
        case .requestId, .userAgent:
            break
        }
        return nil
    }

    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        // U+FFFD: the header's bytes were not UTF-8, and what was meant is lost.
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0xFFFD: return true
        default: return scalar.properties.isBidiControl
        }
    }

    /// The first clear value that breaks its rule, as "field: why", or nil (the personal ones are
    /// commitments here: their values were checked at the edge).
    public var problem: String? {
        let values: [(Field, String?)] = [(.requestId, requestId), (.idempotencyKey, idempotencyKey)]
        for case let (field, value?) in values {
            if let why = Self.problem(field, value) { return "meta.\(field.rawValue) \(why)" }
        }
        return nil  // `meta.api_key_id`'s shape is the domain's (`ResourceID`): an import checks it there
    }

    /// The `meta` object: only the members that are present.
    public var json: JSONValue {
        var members: [String: JSONValue] = [:]
        if let clientIP { members["client_ip"] = clientIP.json }
        if let idempotencyKey { members["idempotency_key"] = .string(idempotencyKey) }
        if let requestId { members["request_id"] = .string(requestId) }
        if let userAgent { members["user_agent"] = userAgent.json }
        if case .scim(let keyID)? = via {
            members["via"] = "scim"
            members["api_key_id"] = .string(keyID)
        }
        return .object(members)
    }

    public init(json: JSONValue) throws(EnvelopeError) {
        guard case .object(let members) = json else { throw EnvelopeError("meta is not an object") }
        var channel: String?, keyID: String?
        for (key, value) in members {
            switch key {
            case "client_ip": clientIP = try PersonalValue(json: value)
            case "user_agent": userAgent = try PersonalValue(json: value)
            case "idempotency_key", "request_id", "via", "api_key_id":
                guard case .string(let s) = value else { throw EnvelopeError("meta.\(key) is not a string") }
                switch key {
                case "request_id": requestId = s
                case "via": channel = s
                case "api_key_id": keyID = s
                default: idempotencyKey = s
                }
            default: throw EnvelopeError("meta has an unknown member \"\(key)\"")
            }
        }
        switch (channel, keyID) {
        case (nil, nil): break
        case ("scim"?, let keyID?): via = .scim(apiKeyID: keyID)
        default: throw EnvelopeError("meta.via is \"scim\" with meta.api_key_id, or neither is present")
        }
    }
}

/// How a command arrived when not through the REST API (product spec §10).
public enum Via: Sendable, Hashable {
    /// SCIM provisioning, through this org API key (its creator is the event's actor).
    case scim(apiKeyID: String)
}

/// An event as a command produces it, before the log gives it a place (`seq`, `version`, `prev_hash`).
public struct NewEvent: Sendable, Hashable {
    public var type: String
    public var schemaVersion: Int
    public var at: Timestamp
    public var actor: String
    /// The event's payload; always a JSON object.
    public var data: JSONValue
    public var meta: EventMeta

    public init(type: String, schemaVersion: Int = EventEnvelope.schemaVersion, at: Timestamp, actor: String, data: JSONValue = [:], meta: EventMeta = EventMeta()) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.at = at
        self.actor = actor
        self.data = data
        self.meta = meta
    }
}

/// A malformed stored or imported envelope.
public struct EnvelopeError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One event as the log holds it (product spec §4).
///
/// The stored form is `canonicalBytes()`: the envelope without `hash`, in RFC 8785 form. `hash` is the
/// SHA-256 of exactly those bytes, and `prev_hash` the previous event's `hash` (64 zeros for seq 1).
public struct EventEnvelope: Sendable, Hashable {
    /// The envelope format every event is written in: 2 names people by user id and holds personal
    /// values only as commitments (product spec §8). A log of format 1 is refused, never read.
    public static let schemaVersion = 2

    public var seq: UInt64
    public var stream: String
    public var version: UInt64
    public var type: String
    public var schemaVersion: Int
    public var at: Timestamp
    public var actor: String
    public var data: JSONValue
    public var meta: EventMeta
    public var prevHash: ChainHash

    public init(seq: UInt64, stream: String, version: UInt64, event: NewEvent, prevHash: ChainHash) {
        self.seq = seq
        self.stream = stream
        self.version = version
        self.type = event.type
        self.schemaVersion = event.schemaVersion
        self.at = event.at
        self.actor = event.actor
        self.data = event.data
        self.meta = event.meta
        self.prevHash = prevHash
    }

    /// The bytes that are hashed and stored: the envelope without `hash`, canonical.
    public func canonicalBytes() throws(CanonicalJSON.EncodingError) -> [UInt8] {
        try encode(hash: nil)
    }

    /// The envelope with its `hash` member, canonical: one line of an export or of `GET /v1/events`.
    public func exportBytes(hash: ChainHash) throws(CanonicalJSON.EncodingError) -> [UInt8] {
        try encode(hash: hash)
    }

    /// The export line of a stored event: its canonical bytes decoded and encoded again with `hash` in
    /// its sorted place (exports, `GET /v1/events`).
    public static func exportLine(stored bytes: UnsafeRawBufferPointer, hash: ChainHash) throws -> [UInt8] {
        try decode(bytes).envelope.exportBytes(hash: hash)
    }

    /// Members written in RFC 8785 order (all names are ASCII, so byte order is UTF-16 order):
    /// actor, at, data, [hash], meta, prev_hash, schema_version, seq, stream, type, version.
    private func encode(hash: ChainHash?) throws(CanonicalJSON.EncodingError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(384)
        out.append(contentsOf: #"{"actor":"#.utf8)
        CanonicalJSON.writeString(actor, into: &out)
        out.append(contentsOf: #","at":""#.utf8)
        at.appendRFC3339(to: &out)
        out.append(contentsOf: #"","data":"#.utf8)
        try CanonicalJSON.write(data, into: &out)
        if let hash {
            out.append(contentsOf: #","hash":""#.utf8)
            hash.appendHex(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: #","meta":"#.utf8)
        try CanonicalJSON.write(meta.json, into: &out)
        out.append(contentsOf: #","prev_hash":""#.utf8)
        prevHash.appendHex(to: &out)
        out.append(contentsOf: #"","schema_version":"#.utf8)
        try CanonicalJSON.writeInteger(Int64(schemaVersion), into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        try CanonicalJSON.writeInteger(Int64(seq), into: &out)
        out.append(contentsOf: #","stream":"#.utf8)
        CanonicalJSON.writeString(stream, into: &out)
        out.append(contentsOf: #","type":"#.utf8)
        CanonicalJSON.writeString(type, into: &out)
        out.append(contentsOf: #","version":"#.utf8)
        try CanonicalJSON.writeInteger(Int64(version), into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Decodes an envelope from JSON (stored or exported form). A `hash` member, when present, is returned
    /// beside the envelope and is not part of it.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> (envelope: EventEnvelope, hash: ChainHash?) {
        var parser = JSONParser(bytes)
        guard case .object(let m) = try parser.parseDocument() else { throw EnvelopeError("an envelope is a JSON object") }
        func string(_ key: String) throws(EnvelopeError) -> String {
            guard case .string(let s)? = m[key] else { throw EnvelopeError("envelope member \"\(key)\" is missing or not a string") }
            return s
        }
        func integer(_ key: String) throws(EnvelopeError) -> Int64 {
            guard case .int(let n)? = m[key] else { throw EnvelopeError("envelope member \"\(key)\" is missing or not an integer") }
            return n
        }
        let known: Set<String> = ["actor", "at", "data", "hash", "meta", "prev_hash", "schema_version", "seq", "stream", "type", "version"]
        if let unknown = m.keys.first(where: { !known.contains($0) }) {
            throw EnvelopeError("envelope has an unknown member \"\(unknown)\"")
        }
        let atText = try string("at")
        guard let at = Timestamp(rfc3339: atText), at.rfc3339 == atText else {
            throw EnvelopeError("envelope member \"at\" is not an RFC 3339 UTC time with milliseconds: \(atText)")
        }
        guard let prevHash = ChainHash(hex: try string("prev_hash")) else {
            throw EnvelopeError("envelope member \"prev_hash\" is not 64 lower-case hex digits")
        }
        var hash: ChainHash?
        if m["hash"] != nil {
            guard let h = ChainHash(hex: try string("hash")) else { throw EnvelopeError("envelope member \"hash\" is not 64 lower-case hex digits") }
            hash = h
        }
        guard case .object? = m["data"] else { throw EnvelopeError("envelope member \"data\" is missing or not an object") }
        let seq = try integer("seq"), version = try integer("version"), schemaVersion = try integer("schema_version")
        guard seq >= 1, version >= 1, schemaVersion >= 1 else { throw EnvelopeError("seq, version and schema_version start at 1") }
        let event = NewEvent(
            type: try string("type"), schemaVersion: Int(schemaVersion), at: at, actor: try string("actor"),
            data: m["data"]!, meta: try EventMeta(json: m["meta"] ?? .object([:])))
        let envelope = EventEnvelope(seq: UInt64(seq), stream: try string("stream"), version: UInt64(version), event: event, prevHash: prevHash)
        return (envelope, hash)
    }

    public static func decode(_ bytes: [UInt8]) throws -> (envelope: EventEnvelope, hash: ChainHash?) {
        try bytes.withUnsafeBytes { try decode($0) }
    }
}

/// The few envelope members the chain check needs, read without building `data` or `meta`.
public struct EnvelopeHeader: Sendable, Hashable {
    public var seq: UInt64 = 0
    public var stream: String = ""
    public var version: UInt64 = 0
    public var type: String = ""
    public var prevHash: ChainHash = .genesis

    public static func read(_ bytes: UnsafeRawBufferPointer) throws -> EnvelopeHeader {
        var header = EnvelopeHeader()
        var seen = 0
        var parser = JSONParser(bytes)
        try parser.forEachMember { (name, p) throws(JSONParser.SyntaxError) in
            switch name.count {
            case 3 where name.elementsEqual("seq".utf8):
                header.seq = UInt64(try p.parseInteger()); seen |= 1
            case 6 where name.elementsEqual("stream".utf8):
                header.stream = try p.parseString(); seen |= 2
            case 7 where name.elementsEqual("version".utf8):
                header.version = UInt64(try p.parseInteger()); seen |= 4
            case 4 where name.elementsEqual("type".utf8):
                header.type = try p.parseString(); seen |= 8
            case 9 where name.elementsEqual("prev_hash".utf8):
                let start = p.position
                let text = try p.parseString()
                guard let h = ChainHash(hex: text) else {
                    throw JSONParser.SyntaxError(offset: start, message: "prev_hash is not 64 lower-case hex digits")
                }
                header.prevHash = h; seen |= 16
            default:
                try p.skipValue()
            }
        }
        guard seen == 31 else { throw EnvelopeError("envelope lacks one of seq, stream, version, type, prev_hash") }
        return header
    }
}

/// The members of a stored (canonical) envelope, read in one pass without building `data` or `meta`:
/// scalars are decoded, the rest kept as byte ranges into the stored bytes (themselves canonical JSON).
/// The fast path for replays and for rendering audit rows.
public struct EnvelopeView: Sendable {
    public var seq: UInt64 = 0
    public var version: UInt64 = 0
    public var stream: String = ""
    public var type: String = ""
    public var actor: String = ""
    public var at = Timestamp(millisecondsSinceEpoch: 0)
    /// Ranges of raw member values (canonical JSON) in the bytes read.
    public var actorRange = 0..<0
    public var atRange = 0..<0
    public var dataRange = 0..<0
    public var metaRange = 0..<0

    public static func read(_ bytes: UnsafeRawBufferPointer) throws -> EnvelopeView {
        var unused: [(String, JSONValue)]?
        if let view = readCanonical(bytes, data: &unused) { return view }
        return try readAnyOrder(bytes)
    }

    /// The view and the `data` member's members (as `dataMembers(in:)` gives them), read in one pass:
    /// what a replay needs of every event, without skipping `data` first and parsing it after.
    public static func readWithData(_ bytes: UnsafeRawBufferPointer) throws -> (EnvelopeView, [(String, JSONValue)]) {
        var data: [(String, JSONValue)]? = []
        if let view = readCanonical(bytes, data: &data), let data { return (view, data) }
        let view = try readAnyOrder(bytes)
        return (view, try view.dataMembers(in: bytes))
    }

    static func readCanonical(_ bytes: UnsafeRawBufferPointer) -> EnvelopeView? {
        var unused: [(String, JSONValue)]?
        return readCanonical(bytes, data: &unused)
    }

    /// Stored envelopes are canonical, so their members come in one known order: read them in that
    /// order without comparing names. Nil when the bytes are laid out any other way. With `data`
    /// non-nil on entry, `data`'s members are parsed into it rather than skipped.
    static func readCanonical(_ bytes: UnsafeRawBufferPointer, data: inout [(String, JSONValue)]?) -> EnvelopeView? {
        var view = EnvelopeView()
        var p = JSONParser(bytes)
        func literal(_ text: StaticString) -> Bool { p.consume(text) }
        do {
            guard literal(#"{"actor":"#) else { return nil }
            var start = p.position
            view.actor = try p.parseString(); view.actorRange = start..<p.position
            guard literal(#","at":"#) else { return nil }
            start = p.position
            let at = try p.parsePlainStringBytes().map(Timestamp.init(rfc3339UTF8:)) ?? Timestamp(rfc3339: try p.parseString())
            guard let at else { return nil }
            view.at = at; view.atRange = start..<p.position
            guard literal(#","data":"#) else { return nil }
            start = p.position
            if data != nil { data = try p.parseObjectMembers() } else { try p.skipValue() }
            view.dataRange = start..<p.position
            guard literal(#","meta":"#) else { return nil }
            start = p.position
            try p.skipValue(); view.metaRange = start..<p.position
            guard literal(#","prev_hash":"#), p.skipHexDigest() || ((try? p.skipValue()) != nil) else { return nil }
            guard literal(#","schema_version":"#) else { return nil }
            _ = try p.parseInteger()
            guard literal(#","seq":"#) else { return nil }
            view.seq = UInt64(try p.parseInteger())
            guard literal(#","stream":"#) else { return nil }
            view.stream = try p.parseString()
            guard literal(#","type":"#) else { return nil }
            view.type = try p.parseString()
            guard literal(#","version":"#) else { return nil }
            view.version = UInt64(try p.parseInteger())
            guard literal("}"), p.position == bytes.count else { return nil }
            return view
        } catch {
            return nil
        }
    }

    static func readAnyOrder(_ bytes: UnsafeRawBufferPointer) throws -> EnvelopeView {
        var view = EnvelopeView()
        var seen = 0
        var parser = JSONParser(bytes)
        try parser.forEachMember { (name, p) throws(JSONParser.SyntaxError) in
            let start = p.position
            switch (name.count, name.first) {
            case (3, UInt8(ascii: "s")): view.seq = UInt64(try p.parseInteger()); seen |= 1
            case (6, UInt8(ascii: "s")): view.stream = try p.parseString(); seen |= 2
            case (7, UInt8(ascii: "v")): view.version = UInt64(try p.parseInteger()); seen |= 4
            case (4, UInt8(ascii: "t")): view.type = try p.parseString(); seen |= 8
            case (5, UInt8(ascii: "a")): view.actor = try p.parseString(); view.actorRange = start..<p.position; seen |= 16
            case (2, UInt8(ascii: "a")):
                let text = try p.parseString()
                guard let at = Timestamp(rfc3339: text) else { throw JSONParser.SyntaxError(offset: start, message: "at is not an RFC 3339 time") }
                view.at = at; view.atRange = start..<p.position; seen |= 32
            case (4, UInt8(ascii: "d")): try p.skipValue(); view.dataRange = start..<p.position; seen |= 64
            case (4, UInt8(ascii: "m")): try p.skipValue(); view.metaRange = start..<p.position; seen |= 128
            default: try p.skipValue()
            }
        }
        guard seen == 255 else { throw EnvelopeError("envelope lacks one of seq, stream, version, type, actor, at, data, meta") }
        return view
    }

    /// The `data` member's members in order, without a dictionary (see `JSONParser.parseObjectMembers`).
    public func dataMembers(in bytes: UnsafeRawBufferPointer) throws -> [(String, JSONValue)] {
        var parser = JSONParser(UnsafeRawBufferPointer(rebasing: bytes[dataRange]))
        return try parser.parseObjectMembers()
    }
}
