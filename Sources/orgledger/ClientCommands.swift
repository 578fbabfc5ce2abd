import ArgumentParser
import Foundation
import LedgerCore

private let orgColumns = ["handle", "display_name", "role", "member_count", "status", "id"]
private let memberColumns = ["email", "role", "status", "joined_at", "invited_by"]
private let invitationColumns = ["id", "email", "role", "status", "expires_at", "invited_by"]
private let keyColumns = ["id", "name", "role", "status", "void_reason", "created_by", "created_at"]

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GET /v1/health: is the service up, and the head of its log.")
    @OptionGroup var client: ClientOptions
    func run() throws { try client.call("GET", "/v1/health") }
}

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "GET /metrics: the service's Prometheus metrics.")
    @OptionGroup var client: ClientOptions
    func run() throws { try client.call("GET", "/metrics") }
}

struct Orgs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GET /v1/orgs: the orgs you belong to, with your role.")
    @OptionGroup var client: ClientOptions
    func run() throws { try client.call("GET", "/v1/orgs", columns: orgColumns, listKey: "orgs") }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GET /v1/events: the raw log as NDJSON envelopes.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Only events after this seq.") var after: UInt64?
    @Option(help: "At most this many (1–10000).") var limit: Int?
    func run() throws { try client.call("GET", "/v1/events" + query([("after", after.map(String.init)), ("limit", limit.map(String.init))])) }
}

struct Org: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One org: create, show, update, rename, reset auth, schedule or cancel deletion, audit.",
        subcommands: [Create.self, Show.self, Update.self, Rename.self, ResetAuth.self, Delete.self, Undelete.self, AuditLog.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs: create an org; you become its owner.")
        @OptionGroup var client: ClientOptions
        @Argument var handle: String
        @Argument(help: "The display name.") var name: String
        func run() throws { try client.call("POST", "/v1/orgs", body: ["handle": .string(handle), "display_name": .string(name)]) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/orgs/{org}: the profile, now or as of a seq or time.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Handle or org id.") var org: String
        @Option(help: "A seq or an RFC 3339 time.") var asOf: String?
        func run() throws { try client.call("GET", "/v1/orgs/\(segment(org))" + query([("as_of", asOf)])) }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "PATCH /v1/orgs/{org}: display name and/or avatar.")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Option(help: "A new display name.") var name: String?
        @Option(help: "An https avatar URL.") var avatar: String?
        @Flag(help: "Reset the avatar to the generated default.") var noAvatar = false
        func run() throws {
            var body: [String: JSONValue] = [:]
            if let name { body["display_name"] = .string(name) }
            if let avatar { body["avatar_url"] = .string(avatar) }
            if noAvatar { body["avatar_url"] = .null }
            try client.call("PATCH", "/v1/orgs/\(segment(org))", body: .object(body))
        }
    }

    struct Rename: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/handle: rename; the old handle is held 30 days.")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var handle: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/handle", body: ["handle": .string(handle)]) }
    }

    struct ResetAuth: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "reset-auth", abstract: "POST /v1/orgs/{org}/auth/reset: void every API key issued before now.")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/auth/reset") }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/deletion: schedule deletion (purged after 30 days).")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Option(help: "Type the org's current handle to confirm.") var confirm: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/deletion", body: ["confirm": .string(confirm)]) }
    }

    struct Undelete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DELETE /v1/orgs/{org}/deletion: cancel a scheduled deletion.")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        func run() throws { try client.call("DELETE", "/v1/orgs/\(segment(org))/deletion") }
    }

    struct AuditLog: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "audit", abstract: "GET /v1/orgs/{org}/audit: the audit log, newest first.")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Option var since: String?
        @Option var until: String?
        @Option(name: .customLong("actor")) var byActor: String?
        @Option var action: String?
        @Option var target: String?
        @Option var limit: Int?
        @Option var cursor: String?
        @Option(help: "table (default), json, ndjson or csv; the last three print the service's answer as it is.") var format: String?
        func validate() throws {
            if let format, !["table", "json", "ndjson", "csv"].contains(format) { throw ValidationError("--format must be table, json, ndjson or csv") }
        }
        func run() throws {
            let wire = format == "table" ? nil : format
            let q = query([("since", since), ("until", until), ("actor", byActor), ("action", action), ("target", target),
                           ("limit", limit.map(String.init)), ("cursor", cursor), ("format", wire)])
            var client = client
            if wire != nil { client.json = true }  // json, ndjson and csv are for programs: print them as they come
            try client.call("GET", "/v1/orgs/\(segment(org))/audit" + q, columns: ["seq", "at", "actor", "action", "target"], listKey: "events")
        }
    }
}

struct MemberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "member", abstract: "Members: list, show, change role, suspend, reinstate, remove (yourself: leave).",
        subcommands: [List.self, Show.self, SetRole.self, Suspend.self, Reinstate.self, Remove.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/orgs/{org}/members")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Option var role: String?
        @Option var status: String?
        @Option var asOf: String?
        @Option var limit: Int?
        @Option var cursor: String?
        func run() throws {
            let q = query([("role", role), ("status", status), ("as_of", asOf), ("limit", limit.map(String.init)), ("cursor", cursor)])
            try client.call("GET", "/v1/orgs/\(segment(org))/members" + q, columns: memberColumns, listKey: "members")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/orgs/{org}/members/{email}")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var email: String
        @Option var asOf: String?
        func run() throws { try client.call("GET", "/v1/orgs/\(segment(org))/members/\(segment(email))" + query([("as_of", asOf)])) }
    }

    struct SetRole: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "role", abstract: "PUT /v1/orgs/{org}/members/{email}/role")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var email: String
        @Argument var role: String
        func run() throws { try client.call("PUT", "/v1/orgs/\(segment(org))/members/\(segment(email))/role", body: ["role": .string(role)]) }
    }

    struct Suspend: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/members/{email}/suspend")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var email: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/members/\(segment(email))/suspend") }
    }

    struct Reinstate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/members/{email}/reinstate")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var email: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/members/\(segment(email))/reinstate") }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DELETE /v1/orgs/{org}/members/{email} (yourself: leave)")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var email: String
        func run() throws { try client.call("DELETE", "/v1/orgs/\(segment(org))/members/\(segment(email))") }
    }
}

struct Invite: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/invitations: invite up to 100 emails, all or nothing.")
    @OptionGroup var client: ClientOptions
    @Argument var org: String
    @Argument(help: "One or more emails.") var emails: [String]
    @Option var role: String
    @Option(help: "1–30 days (default 7).") var ttlDays: Int?
    func run() throws {
        var body: [String: JSONValue] = ["emails": .array(emails.map(JSONValue.string)), "role": .string(role)]
        if let ttlDays { body["ttl_days"] = .int(Int64(ttlDays)) }
        try client.call("POST", "/v1/orgs/\(segment(org))/invitations", body: .object(body), columns: invitationColumns, listKey: "invitations")
    }
}

struct InvitationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invitation", abstract: "Invitations: an org's list, yours, revoke, accept, decline.",
        subcommands: [List.self, Mine.self, Revoke.self, Accept.self, Decline.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/orgs/{org}/invitations")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Option var status: String?
        func run() throws { try client.call("GET", "/v1/orgs/\(segment(org))/invitations" + query([("status", status)]), columns: invitationColumns, listKey: "invitations") }
    }

    struct Mine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/invitations: pending invitations addressed to you.")
        @OptionGroup var client: ClientOptions
        func run() throws { try client.call("GET", "/v1/invitations", columns: ["id", "org_id", "role", "expires_at", "invited_by"], listKey: "invitations") }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DELETE /v1/orgs/{org}/invitations/{id}")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var id: String
        func run() throws { try client.call("DELETE", "/v1/orgs/\(segment(org))/invitations/\(segment(id))") }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/invitations/{id}/accept")
        @OptionGroup var client: ClientOptions
        @Argument var id: String
        func run() throws { try client.call("POST", "/v1/invitations/\(segment(id))/accept") }
    }

    struct Decline: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/invitations/{id}/decline")
        @OptionGroup var client: ClientOptions
        @Argument var id: String
        func run() throws { try client.call("POST", "/v1/invitations/\(segment(id))/decline") }
    }
}

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "API keys: create (the secret is shown once), list, revoke, verify.",
        subcommands: [Create.self, List.self, Revoke.self, Verify.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/orgs/{org}/api-keys")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var name: String
        @Option var role: String
        func run() throws { try client.call("POST", "/v1/orgs/\(segment(org))/api-keys", body: ["name": .string(name), "role": .string(role)]) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/orgs/{org}/api-keys")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        func run() throws { try client.call("GET", "/v1/orgs/\(segment(org))/api-keys", columns: keyColumns, listKey: "api_keys") }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DELETE /v1/orgs/{org}/api-keys/{id}")
        @OptionGroup var client: ClientOptions
        @Argument var org: String
        @Argument var id: String
        func run() throws { try client.call("DELETE", "/v1/orgs/\(segment(org))/api-keys/\(segment(id))") }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/auth/verify: does this secret verify, and as what?")
        @OptionGroup var client: ClientOptions
        // The secret comes on standard input, never as an argument: arguments are visible to every user
        // of the machine (ps, /proc) and land in shell history.
        func run() throws {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let secret = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !secret.isEmpty else {
                printError("key verify: give the secret on standard input, e.g. 'orgledger key verify < secret.txt'")
                throw ExitCode(2)
            }
            try client.call("POST", "/v1/auth/verify", body: ["secret": .string(secret)])
        }
    }
}
