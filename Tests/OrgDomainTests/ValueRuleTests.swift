import LedgerTestSupport
import Testing
@testable import OrgDomain

@Suite("Value rules: handle, email, display name, avatar")
struct ValueRuleTests {
    @Test("handles are lower-cased and otherwise accepted only as a-z 0-9 - of 1–39", arguments: [
        ("acme", "acme"), ("Acme-Labs", "acme-labs"), ("a", "a"), ("x1-2-3", "x1-2-3"),
        (String(repeating: "a", count: 39), String(repeating: "a", count: 39)),
    ])
    func validHandles(raw: String, normalized: String) throws {
        #expect(try Handle.parse(raw).get().value == normalized)
    }

    @Test("bad handles are refused with a reason", arguments: [
        ("", "empty"), ("-acme", "start or end"), ("acme-", "start or end"), ("ac--me", "'--'"),
        ("ac_me", "a-z"), ("ac me", "a-z"), ("acmé", "a-z"), (String(repeating: "a", count: 40), "at most 39"),
        ("admin", "reserved"), ("API", "reserved"), ("system", "reserved"), ("www", "reserved"),
    ])
    func badHandles(raw: String, reason: String) {
        guard case .failure(let error) = Handle.parse(raw) else { Issue.record("accepted \(raw)"); return }
        #expect(error.field == "handle")
        #expect(error.message.contains(reason), "\(error)")
    }

    @Test("emails are trimmed and lower-cased")
    func emailNormalization() throws {
        #expect(try Email.parse("  Ada.Lovelace@Example.COM \n").get().value == "ada.lovelace@example.com")
    }

    @Test("bad emails are refused", arguments: [
        "", "ada", "ada@example", "@example.com", "ada@@example.com", "a@b@example.com", "ada lovelace@example.com",
        "ada@example..com", "ada@.example.com", "ada@example.com.", "ada\u{0}@example.com",
        String(repeating: "a", count: 243) + "@example.com",
    ])
    func badEmails(raw: String) {
        #expect((try? Email.parse(raw).get()) == nil, "accepted \(raw.debugDescription)")
    }

    @Test("254 UTF-8 bytes is the longest email, however few characters that is")
    func emailLength() {
        let local = String(repeating: "a", count: 254 - "@example.com".count)
        #expect((try? Email.parse(local + "@example.com").get()) != nil)
        #expect((try? Email.parse("a" + local + "@example.com").get()) == nil)
        // Six graphemes, 613 bytes: what reached LMDB's 511-byte key limit before.
        let heavy = "a" + String(repeating: "\u{301}", count: 300) + "@example.com"
        #expect(heavy.count < 20 && heavy.utf8.count > 600)
        #expect((try? Email.parse(heavy).get()) == nil)
        let multibyte = String(repeating: "é", count: 121) + "@example.com"  // 242 + 12 bytes
        #expect(multibyte.utf8.count == 254)
        #expect((try? Email.parse(multibyte).get()) != nil)
        #expect((try? Email.parse("é" + multibyte).get()) == nil)
    }

    @Test("one mailbox, one spelling: NFC and NFD, upper and lower case are the same bytes")
    func emailNFC() throws {
        let nfc = try Email.parse("jos\u{E9}@example.com").get()
        let nfd = try Email.parse("JOSE\u{301}@Example.com").get()
        #expect(Array(nfc.value.utf8) == Array(nfd.value.utf8))
        // Email's own equality is of bytes: an NFD value (only a forged log could hold one) is another address.
        #expect(Email(trusted: "jos\u{E9}@example.com") != Email(trusted: "jose\u{301}@example.com"))
        #expect(Array(nfc.value.utf8) == Array("jos\u{E9}@example.com".utf8))
    }

    @Test("invisible, format and bidi characters make no second spelling of an address", arguments: [
        "ada\u{200B}@example.com", "\u{202E}ada@example.com", "ada@exa\u{200D}mple.com", "ada\u{2060}@example.com",
        "\u{FEFF}ada@example.com", "ada\u{AD}@example.com", "ada\u{2028}@example.com", "ada\u{85}@example.com",
        "ada\u{200E}@example.com", "ada\u{2066}@example.com", "ada\u{7F}@example.com", "ada\u{3000}x@example.com",
        "jos\u{FFFD}@example.com",
    ])
    func emailInvisibles(raw: String) {
        #expect((try? Email.parse(raw).get()) == nil, "accepted \(raw.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test("internationalized domains: the xn-- form and the Unicode form are one address, stored in Unicode")
    func emailIDN() throws {
        let unicode = try Email.parse("ada@m\u{FC}nchen.de").get()
        let ascii = try Email.parse("Ada@XN--MNCHEN-3YA.de").get()
        #expect(Array(unicode.value.utf8) == Array(ascii.value.utf8))
        #expect(Array(ascii.value.utf8) == Array("ada@m\u{FC}nchen.de".utf8))
        #expect(try Email.parse("b@xn--bcher-kva.example").get().value == "b@b\u{FC}cher.example")
        #expect(try Email.parse("c@xn--fsqu00a.xn--55qx5d").get().value == "c@\u{4F8B}\u{5B50}.\u{516C}\u{53F8}")
        // Not punycode, or punycode of nothing foreign, or of something that is not a lower-case NFC label.
        // xn--munchen-gie is the NFD `münchen`: a second spelling of the same domain, refused.
        for bad in ["a@xn--.de", "a@xn--abc.de", "a@xn--mnchen-3y!.de", "a@xn--99999999999999999999a.de", "a@xn--mnchen-3yA\u{E9}.de",
                    "a@xn--munchen-gie.de", "ada@\u{FF45}\u{FF58}ample.com"] {
            #expect((try? Email.parse(bad).get()) == nil, "accepted \(bad)")
        }
    }

    @Test("an @ or a dot followed by a combining mark is still an @ or a dot", arguments: [
        "x@\u{301}y@example.com", "ada@\u{301}example.com", "ada@example.\u{301}com", "\u{301}ada@example.com",
    ])
    func emailCombiningMarks(raw: String) {
        #expect((try? Email.parse(raw).get()) == nil, "accepted \(raw.unicodeScalars.map { String($0.value, radix: 16) })")
    }

    @Test("an avatar's user information is found behind a combining mark too")
    func avatarCombiningMark() {
        #expect((try? AvatarURL.parse("https://user@\u{301}evil.example/a.png").get()) == nil)
        #expect((try? AvatarURL.parse("https://cdn.example.com/\u{301}a.png").get()) != nil)
    }

    @Test("the plain-ASCII shortcut answers exactly what the full rules answer, on random ASCII input")
    func emailShortcutAgrees() {
        var rng = SplitMix64(seed: 2026)
        let pieces = ["a", "Z", "9", "@", ".", " ", "\t", "\n", "\u{7F}", "\u{01}", "-", "_", "+", "xn--", "XN--", "ex", "com", "\"", "é"]
        var shortcut = 0
        for _ in 0..<20_000 {
            func word() -> String { (0..<Int.random(in: 0...3, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined() }
            // Address-shaped most of the time (so the shortcut is reached), anything at all otherwise.
            let raw = Bool.random(using: &rng) ? word() + "a" + word() + "@" + word() + "b." + word() + "c" + word() : word() + word() + word()
            let full = Email.parseFully(raw)
            if let fast = Email.plainASCII(raw) {
                shortcut += 1
                #expect(full == .success(fast), "\(raw.debugDescription)")
                #expect(Array(fast.value.utf8) == (try? Array(full.get().value.utf8)), "\(raw.debugDescription)")
            }
            #expect(Email.parse(raw) == full, "\(raw.debugDescription)")
        }
        #expect(shortcut > 100, "the random input reaches the shortcut")
    }

    @Test("the Kelvin sign is not a k: handles lower-case ASCII only")
    func handleKelvin() {
        #expect((try? Handle.parse("\u{212A}acme").get()) == nil)
    }

    @Test("display names: at most 1,024 bytes, and something visible")
    func displayNameBytes() {
        let oneGrapheme = "a" + String(repeating: "\u{301}", count: 500_000)
        #expect(oneGrapheme.count == 1)
        #expect((try? DisplayName.parse(oneGrapheme).get()) == nil)
        #expect((try? DisplayName.parse(String(repeating: "\u{301}", count: 3)).get()) == nil)
        for invisible in ["\u{200B}", "\u{200B}\u{200D}", "\u{3000}", "\u{2060}\u{FEFF}", "\u{202E}", "na\u{85}me"] {
            #expect((try? DisplayName.parse(invisible).get()) == nil, "accepted \(invisible.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(Array(try! DisplayName.parse("Cafe\u{301}").get().utf8) == Array("Caf\u{E9}".utf8), "names are NFC")
    }

    @Test("display names are trimmed, 1–100 characters, free of control and bidi characters")
    func displayNames() throws {
        #expect(try DisplayName.parse("  Acme Rockets  ").get() == "Acme Rockets")
        #expect(try DisplayName.parse(String(repeating: "é", count: 100)).get().count == 100)
        #expect(try DisplayName.parse(String(repeating: "👩‍👩‍👧", count: 56)).get().count == 56)  // 1,008 bytes
        #expect((try? DisplayName.parse(String(repeating: "👩‍👩‍👧", count: 57)).get()) == nil)  // 1,026 bytes
        for bad in ["", "   ", String(repeating: "x", count: 101), "tab\there", "new\nline", "evil\u{202E}txt", "nul\u{0}"] {
            #expect((try? DisplayName.parse(bad).get()) == nil, "accepted \(bad.debugDescription)")
        }
    }

    @Test("avatars are https URLs with a host, no user-info, at most 2048 characters")
    func avatars() throws {
        #expect(try AvatarURL.parse("https://cdn.example.com/a.png").get() == "https://cdn.example.com/a.png")
        #expect(try AvatarURL.parse("HTTPS://cdn.example.com/a.png").get() == "https://cdn.example.com/a.png")
        let long = "https://cdn.example.com/" + String(repeating: "a", count: 2048 - 24)
        #expect(long.count == 2048)
        #expect((try? AvatarURL.parse(long).get()) != nil)
        for bad in ["http://cdn.example.com/a.png", "https://", "https:///a.png", "https://user:pw@evil.example/a.png",
                    "javascript:alert(1)", "https://cdn.example.com/a b.png", long + "a"] {
            #expect((try? AvatarURL.parse(bad).get()) == nil, "accepted \(bad)")
        }
    }

    @Test("an actor reads back from the text an envelope records")
    func recordedActor() {
        #expect(Actor(recorded: "system") == .system)
        #expect(Actor(recorded: "usr_0123456789abcdefghjkmnpqrs") == .user(UserID(trusted: "usr_0123456789abcdefghjkmnpqrs")))
        for actor in [Actor.system, .user(UserID(trusted: "usr_0123456789abcdefghjkmnpqrs"))] {
            #expect(Actor(recorded: actor.description) == actor)
        }
    }
}
