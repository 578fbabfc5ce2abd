import Testing
@testable import LedgerCore

@Suite("Event envelope")
struct EnvelopeTests {
    static let envelope = EventEnvelope(
        seq: 1, stream: "org_01", version: 1,
        event: NewEvent(
            type: "org.created", at: Timestamp(millisecondsSinceEpoch: 1_795_810_740_123), actor: "usr_0123456789abcdefghjkmnpqrs",
            data: ["handle": "acme", "display_name": "Acme \"Rockets\"", "n": -42, "tags": ["a\u{01}b", "é😀"]],
            meta: EventMeta(requestId: "req-1", clientIP: PersonalValue(committing: "127.0.0.1", salt: Array(repeating: 1, count: 32)))),
        prevHash: .genesis)

    // Written by hand from product spec §4 and checked with Python's hashlib, not derived from the code.
    // The client IP is a commitment: SHA-256("orgledger/pii/v1\n" ‖ salt (32 × 0x01) ‖ "127.0.0.1").
    static let expectedText = #"{"actor":"usr_0123456789abcdefghjkmnpqrs","at":"2026-11-27T20:19:00.123Z","data":{"display_name":"Acme \"Rockets\"","handle":"acme","n":-42,"tags":["a\u0001b","é😀"]},"meta":{"client_ip":{"c":"0bbcde920b4b43c307898d715492e2d3a0892ac04b4afa095804deb8c659a2f4"},"request_id":"req-1"},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","schema_version":2,"seq":1,"stream":"org_01","type":"org.created","version":1}"#
    static let expectedHash = "b6dedc6b135391f28fc81cfeff078124904e05f16d85df08924030d65fa0a670"

    @Test("the stored bytes are the canonical envelope without hash, and hash to the known digest")
    func canonicalBytesAndHash() throws {
        let bytes = try Self.envelope.canonicalBytes()
        #expect(String(decoding: bytes, as: UTF8.self) == Self.expectedText)
        #expect(ChainHash.of(bytes).hex == Self.expectedHash)
    }

    @Test("the envelope's own encoder agrees with the generic canonical encoder")
    func agreesWithGenericEncoder() throws {
        let generic = try JSONParser.parse(Self.expectedText)
        #expect(try CanonicalJSON.encode(generic) == Self.envelope.canonicalBytes())
    }

    @Test("the export form carries hash in its sorted place and decodes back")
    func exportRoundTrip() throws {
        let hash = ChainHash(hex: Self.expectedHash)!
        let line = try Self.envelope.exportBytes(hash: hash)
        var generic = try JSONParser.parse(line).objectValue!
        #expect(generic.removeValue(forKey: "hash") == .string(Self.expectedHash))
        #expect(try CanonicalJSON.encode(.object(generic)) == Self.envelope.canonicalBytes())
        #expect(try CanonicalJSON.encode(JSONParser.parse(line)) == line)
        let decoded = try EventEnvelope.decode(line)
        #expect(decoded.envelope == Self.envelope)
        #expect(decoded.hash == hash)
    }

    @Test("the header reader finds seq, stream, version, type and prev_hash without decoding data")
    func header() throws {
        let header = try Self.envelope.canonicalBytes().withUnsafeBytes { try EnvelopeHeader.read($0) }
        #expect(header == EnvelopeHeader(seq: 1, stream: "org_01", version: 1, type: "org.created", prevHash: .genesis))
    }

    @Test("decode refuses a non-canonical time and unknown members")
    func decodeRefuses() throws {
        let badTime = Self.expectedText.replacingOccurrences("20:19:00.123Z", "20:19:00Z")
        #expect(throws: EnvelopeError.self) { try EventEnvelope.decode(Array(badTime.utf8)) }
        let extra = Self.expectedText.replacingOccurrences(#""version":1}"#, #""version":1,"x":1}"#)
        #expect(throws: EnvelopeError.self) { try EventEnvelope.decode(Array(extra.utf8)) }
    }

    @Test("ChainHash hex round-trips and refuses upper case")
    func hashHex() {
        let h = ChainHash(hex: Self.expectedHash)!
        #expect(h.hex == Self.expectedHash)
        #expect(h.bytes.count == 32)
        #expect(ChainHash(hex: Self.expectedHash.uppercased()) == nil)
        #expect(ChainHash.genesis.hex == String(repeating: "0", count: 64))
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var parts = self.split(separator: target, omittingEmptySubsequences: false).map(String.init)
        guard parts.count > 1 else { return self }
        let first = parts.removeFirst()
        return parts.reduce(first) { $0 + replacement + $1 }
    }
}

@Suite("Envelope view (the replay fast path)")
struct EnvelopeViewTests {
    @Test("reads a canonical envelope in its fixed order, and any other layout by name, to the same fields")
    func canonicalAndFallback() throws {
        let canonical = try EnvelopeTests.envelope.canonicalBytes()
        let reordered = Array(#"{ "version":1, "type":"org.created", "stream":"org_01", "seq":1, "schema_version":2, "prev_hash":"0000000000000000000000000000000000000000000000000000000000000000", "meta":{"request_id":"req-1"}, "data":{"n":-42}, "at":"2026-11-27T20:19:00.123Z", "actor":"usr_0123456789abcdefghjkmnpqrs" }"#.utf8)
        for bytes in [canonical, reordered] {
            try bytes.withUnsafeBytes { raw in
                let view = try EnvelopeView.read(raw)
                #expect(view.seq == 1 && view.version == 1 && view.stream == "org_01" && view.type == "org.created")
                #expect(view.actor == "usr_0123456789abcdefghjkmnpqrs" && view.at == Timestamp(millisecondsSinceEpoch: 1_795_810_740_123))
                #expect(String(decoding: raw[view.metaRange], as: UTF8.self).hasSuffix(#""request_id":"req-1"}"#))
                #expect(try view.dataMembers(in: raw).first { $0.0 == "n" }?.1 == .int(-42))
                // The one-pass read gives the same view and the same members.
                let (again, data) = try EnvelopeView.readWithData(raw)
                #expect(again.seq == view.seq && again.stream == view.stream && again.type == view.type && again.actor == view.actor)
                #expect(again.at == view.at && again.dataRange == view.dataRange && again.metaRange == view.metaRange)
                #expect(data.map(\.0) == (try view.dataMembers(in: raw)).map(\.0))
                #expect(data.first { $0.0 == "n" }?.1 == .int(-42))
            }
        }
        // A duplicate member in data is refused on the one-pass path too.
        var duplicated = canonical
        let n = Array(#""n":-42"#.utf8)
        let at = try #require(duplicated.firstRange(of: n))
        duplicated.replaceSubrange(at, with: Array(#""n":-42,"n":1"#.utf8))
        #expect(throws: (any Error).self) { try duplicated.withUnsafeBytes { _ = try EnvelopeView.readWithData($0) } }
        #expect(canonical.withUnsafeBytes { EnvelopeView.readCanonical($0) } != nil)
        #expect(reordered.withUnsafeBytes { EnvelopeView.readCanonical($0) } == nil)
    }

    @Test("object members in order refuse duplicates like the dictionary parser")
    func membersRefuseDuplicates() {
        let bytes = Array(#"{"a":1,"b":2,"a":3}"#.utf8)
        bytes.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            #expect(throws: JSONParser.SyntaxError.self) { try parser.parseObjectMembers() }
        }
    }
}

@Suite("Event meta layout")
struct EventMetaLayoutTests {
    @Test("EventMeta stays 64 bytes: swiftc 6.3.1 mis-sizes async frames holding an envelope when it changes")
    func size() {
        #expect(MemoryLayout<EventMeta>.size == 64)
    }
}
