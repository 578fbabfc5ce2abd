import Testing
@testable import LedgerCore

@Suite("RFC 8785 canonical JSON")
struct CanonicalJSONTests {
    func text(_ value: JSONValue) throws -> String {
        String(decoding: try CanonicalJSON.encode(value), as: UTF8.self)
    }

    @Test("members are sorted by UTF-16 code units, not by Unicode scalar value")
    func sortsByUTF16() throws {
        // U+E000 is one UTF-16 unit 0xE000; U+1F600 is the surrogate pair 0xD83D 0xDE00, which sorts first.
        let value: JSONValue = ["\u{E000}": 1, "\u{1F600}": 2, "b": 3, "a": 4, "B": 5]
        #expect(try text(value) == "{\"B\":5,\"a\":4,\"b\":3,\"\u{1F600}\":2,\"\u{E000}\":1}")
    }

    @Test("strings use the minimal escapes of JSON.stringify and leave other characters alone")
    func escapes() throws {
        let value: JSONValue = .string("q\"b\\s/\u{08}\u{09}\u{0A}\u{0C}\u{0D}\u{01}\u{1F}é€😀\u{7F}")
        #expect(try text(value) == #""q\"b\\s/\b\t\n\f\r\u0001\u001fé€😀"# + "\u{7F}\"")
    }

    @Test("integers are plain decimal; beyond ±(2^53 − 1) they are refused")
    func integers() throws {
        #expect(try text([0, -1, 42, JSONValue.int(JSONValue.maxSafeInteger), .int(-JSONValue.maxSafeInteger)])
            == "[0,-1,42,9007199254740991,-9007199254740991]")
        #expect(throws: CanonicalJSON.EncodingError.self) { try CanonicalJSON.encode(.int(JSONValue.maxSafeInteger + 1)) }
    }

    @Test("no insignificant whitespace; nested values; literals")
    func nested() throws {
        let value: JSONValue = ["z": [true, false, nil, [:], []], "a": ["y": "x"]]
        #expect(try text(value) == #"{"a":{"y":"x"},"z":[true,false,null,{},[]]}"#)
    }

    @Test("parse then encode gives the canonical form of any equivalent text")
    func parseThenEncode() throws {
        let messy = "  { \"b\" : [ 1 , 2 ] ,\n \"a\" : \"\\u00e9\\ud83d\\ude00\\/\" }  "
        #expect(try text(JSONParser.parse(messy)) == "{\"a\":\"é😀/\",\"b\":[1,2]}")
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("refuses what a ledger must not accept", arguments: [
        ("{\"a\":1,\"a\":2}", "duplicate"),
        ("1.5", "only integers"),
        ("1e3", "only integers"),
        ("01", "leading zero"),
        ("[1,]", "unexpected character"),
        ("{\"a\":1} x", "unexpected data"),
        ("\"\\ud800\"", "lone high surrogate"),
        ("\"a\u{01}\"", "control character"),
        ("9007199254740992", "outside"),
        ("", "unexpected end"),
        ("nul", "invalid literal"),
    ])
    func refuses(input: String, reason: String) {
        do {
            _ = try JSONParser.parse(input)
            Issue.record("accepted \(input)")
        } catch {
            #expect(error.message.contains(reason), "\(error)")
        }
    }

    @Test("refuses invalid UTF-8")
    func invalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("refuses nesting deeper than the limit, accepts the limit")
    func depth() throws {
        let limit = JSONParser.maximumDepth
        _ = try JSONParser.parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        #expect(throws: JSONParser.SyntaxError.self) {
            try JSONParser.parse(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1))
        }
    }

    @Test("skipValue skips exactly one value")
    func skip() throws {
        let bytes = Array(#"{"a":{"x":["}",{"y":"\"]"}]},"b":7}"#.utf8)
        var seen: [String: Int64] = [:]
        try bytes.withUnsafeBytes { raw in
            var parser = JSONParser(raw)
            try parser.forEachMember { (name, p) throws(JSONParser.SyntaxError) in
                let key = String(decoding: name, as: UTF8.self)
                if key == "b" { seen[key] = try p.parseInteger() } else { try p.skipValue() }
            }
        }
        #expect(seen == ["b": 7])
    }

    @Test("strings are read the same whichever byte of an 8-byte word a quote, escape, control or non-ASCII byte falls on")
    func stringsAtEveryAlignment() throws {
        for special in ["\\\"", "\\\\", "\\n", "é", "😀", "\\u0041"] {
            for before in 0..<18 {
                let content = String(repeating: "a", count: before) + special + String(repeating: "b", count: 20 - before)
                let json = "[\"" + content + "\",1]"
                let expected = try JSONParser.parse(Array(("\"" + content + "\"").utf8))
                #expect(try JSONParser.parse(Array(json.utf8)) == .array([expected, 1]), "\(json)")
            }
        }
        // A control character or a lone high byte anywhere in a long string is refused.
        for at in 0..<18 {
            var bytes = Array(("\"" + String(repeating: "x", count: 24) + "\"").utf8)
            bytes[1 + at] = 0x01
            #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(bytes) }
            bytes[1 + at] = 0xFF
            #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(bytes) }
        }
    }

    @Test("a digest and a plain string are skipped or read in place; anything else leaves the parser where it was")
    func inPlaceReads() {
        let digest = String(repeating: "0123456789abcdef", count: 4)
        func run(_ text: String, _ body: (inout JSONParser) -> Void) {
            Array(text.utf8).withUnsafeBytes { raw in
                var p = JSONParser(raw)
                body(&p)
            }
        }
        run("\"" + digest + "\",") { p in
            let (skipped, position) = (p.skipHexDigest(), p.position)
            #expect(skipped)
            #expect(position == 66)
        }
        for bad in [digest.uppercased(), String(digest.dropLast()), digest + "0", String(digest.dropLast()) + "\\\""] {
            run("\"" + bad + "\",") { p in
                let (skipped, position) = (p.skipHexDigest(), p.position)
                #expect(!skipped, "\(bad)")
                #expect(position == 0)
            }
        }
        run(#""2026-11-27T20:19:00.123Z","#) { p in
            let text = p.parsePlainStringBytes().map { String(decoding: $0, as: UTF8.self) }
            let position = p.position
            #expect(text == "2026-11-27T20:19:00.123Z")
            #expect(position == 26)
        }
        for other in [#""a\"b""#, "\"a\u{01}b\"", "12", "\"unterminated"] {
            run(other) { p in
                let (read, position) = (p.parsePlainStringBytes() != nil, p.position)
                #expect(!read, "\(other)")
                #expect(position == 0)
            }
        }
    }
}
