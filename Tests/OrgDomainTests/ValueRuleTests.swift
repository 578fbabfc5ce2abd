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

    @Test("254 characters is the longest email")
    func emailLength() {
        let local = String(repeating: "a", count: 254 - "@example.com".count)
        #expect((try? Email.parse(local + "@example.com").get()) != nil)
        #expect((try? Email.parse("a" + local + "@example.com").get()) == nil)
    }

    @Test("display names are trimmed, 1–100 characters, free of control and bidi characters")
    func displayNames() throws {
        #expect(try DisplayName.parse("  Acme Rockets  ").get() == "Acme Rockets")
        #expect(try DisplayName.parse(String(repeating: "é", count: 100)).get().count == 100)
        #expect(try DisplayName.parse(String(repeating: "👩‍👩‍👧", count: 100)).get().count == 100)  // characters, not bytes
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
        #expect(Actor(recorded: "ada@example.com") == .user(Email(trusted: "ada@example.com")))
        for actor in [Actor.system, .user(Email(trusted: "ada@example.com"))] {
            #expect(Actor(recorded: actor.description) == actor)
        }
    }
}
