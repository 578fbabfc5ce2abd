import ArgumentParser
import Foundation
import LedgerCore

/// `orgledger me …`: the actor's own account (`/v1/me`, product spec §7).
struct MeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "me", abstract: "Your account: show, update the profile, change the email, schedule or cancel its deletion.",
        subcommands: [Show.self, Update.self, Email.self, Delete.self, Undelete.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/me: your profile, memberships and pending invitations.")
        @OptionGroup var client: ClientOptions
        func run() throws { try client.call("GET", "/v1/me") }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "PATCH /v1/me: name, username and/or avatar (the first command of a new email makes its user).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Your name (display-name rules).") var name: String?
        @Option(help: "A username (handle rules: a-z 0-9 -, unique).") var username: String?
        @Option(help: "An https avatar URL.") var avatar: String?
        @Flag(help: "Clear the name.") var noName = false
        @Flag(help: "Clear the username.") var noUsername = false
        @Flag(help: "Clear the avatar.") var noAvatar = false
        func run() throws {
            var body: [String: JSONValue] = [:]
            for (key, value, clear) in [("name", name, noName), ("username", username, noUsername), ("avatar_url", avatar, noAvatar)] {
                if let value { body[key] = .string(value) }
                if clear { body[key] = .null }
            }
            try client.call("PATCH", "/v1/me", body: .object(body))
        }
    }

    struct Email: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/me/email: change your email; memberships, keys and invitations follow.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The new email.") var email: String
        func run() throws { try client.call("POST", "/v1/me/email", body: ["email": .string(email)]) }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/me/deletion: schedule your account's deletion (erased after 30 days unless canceled).")
        @OptionGroup var client: ClientOptions
        @Option(help: "Type your current email to confirm.") var confirm: String
        func run() throws { try client.call("POST", "/v1/me/deletion", body: ["confirm": .string(confirm)]) }
    }

    struct Undelete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "DELETE /v1/me/deletion: cancel your account's scheduled deletion.")
        @OptionGroup var client: ClientOptions
        func run() throws { try client.call("DELETE", "/v1/me/deletion") }
    }
}

/// `orgledger admin …`: what operators (`serve --operator`) do to accounts.
struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin", abstract: "Operators: read an account's standing, activate a re-registered account.",
        subcommands: [User.self, Activate.self])

    struct User: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "GET /v1/admin/users/{email}: an account's standing.")
        @OptionGroup var client: ClientOptions
        @Argument var email: String
        func run() throws { try client.call("GET", "/v1/admin/users/\(segment(email))") }
    }

    struct Activate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "POST /v1/admin/users/{email}/activate: activate an account made for an erased email.")
        @OptionGroup var client: ClientOptions
        @Argument var email: String
        func run() throws { try client.call("POST", "/v1/admin/users/\(segment(email))/activate") }
    }
}
