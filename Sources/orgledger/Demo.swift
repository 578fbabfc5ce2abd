import ArgumentParser
import Foundation
import LedgerCore

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fill a running service with a realistic example.",
        discussion: """
            Three orgs with dozens of members across every role, pending and declined invitations, a promotion to \
            owner, a suspension, API keys and an auth reset, a rename (globex → globex-corp), and a scheduled \
            deletion (initech). Run it once on an empty service.
            """)

    @Option(help: ArgumentHelp("The service's socket (env ORGLEDGER_SOCKET).", valueName: "PATH"))
    var socket: String = ProcessInfoEnvironment.value("ORGLEDGER_SOCKET") ?? "./orgledger.sock"

    func run() throws {
        let client = SocketClient(socketPath: socket)
        var events = 0
        @discardableResult
        func call(_ method: String, _ path: String, as actor: String, _ body: JSONValue? = nil) throws -> JSONValue {
            let reply = try client.send(method, path, headers: [("X-Actor", actor), ("X-Request-Id", "demo-\(events)")], body: try body.map { try CanonicalJSON.encode($0) })
            guard reply.status < 300 else {
                printError("demo: \(method) \(path) as \(actor) answered \(reply.status): \(String(decoding: reply.body, as: UTF8.self))")
                throw ExitCode(1)
            }
            events += 1
            return reply.json ?? .null
        }
        let roles = ["admin", "moderator", "member", "member", "viewer", "billing_manager", "member", "viewer", "moderator", "member", "admin", "viewer", "member", "member", "viewer"]
        let firstNames = ["alice", "bruno", "chen", "dara", "emeka", "farah", "gwen", "hiro", "ines", "jonas", "kemi", "lars", "mei", "nadia", "omar"]
        let orgs = [("acme", "Acme Rockets", "ada"), ("globex", "Globex Corporation", "hank"), ("initech", "Initech", "bill")]
        // Say so up front, before writing anything, if the service already has these orgs.
        for handle in orgs.map(\.0) + ["globex-corp"] {
            let reply = try client.send("GET", "/v1/orgs/\(handle)", headers: [("X-Actor", "demo@example.com")])
            guard reply.status == 404 else {
                printError("demo: the handle '\(handle)' is taken on this service; nothing was written. Run the demo on an empty service (e.g. serve --data a-new-folder).")
                throw ExitCode(1)
            }
        }
        for (handle, name, ownerName) in orgs {
            let owner = "\(ownerName)@\(handle).example"
            try call("POST", "/v1/orgs", as: owner, ["handle": .string(handle), "display_name": .string(name)])
            try call("PATCH", "/v1/orgs/\(handle)", as: owner, ["avatar_url": .string("https://avatars.example/\(handle).png")])
            var invitations: [(email: String, id: String)] = []
            for role in Set(roles).sorted() {
                let emails = firstNames.indices.filter { roles[$0] == role }.map { "\(firstNames[$0])@\(handle).example" }
                let sent = try call("POST", "/v1/orgs/\(handle)/invitations", as: owner, ["emails": .array(emails.map(JSONValue.string)), "role": .string(role)])
                for invitation in sent["invitations"]?.arrayValue ?? [] {
                    invitations.append((invitation["email"]!.stringValue!, invitation["id"]!.stringValue!))
                }
            }
            for (index, invitation) in invitations.enumerated() {
                switch index % 8 {
                case 6: try call("POST", "/v1/invitations/\(invitation.id)/decline", as: invitation.email)
                case 7: break  // left pending
                default: try call("POST", "/v1/invitations/\(invitation.id)/accept", as: invitation.email)
                }
            }
        }
        // acme: a second owner, a suspension, keys and an auth reset.
        try call("PUT", "/v1/orgs/acme/members/alice@acme.example/role", as: "ada@acme.example", ["role": "owner"])
        try call("POST", "/v1/orgs/acme/members/chen@acme.example/suspend", as: "alice@acme.example")
        try call("POST", "/v1/orgs/acme/api-keys", as: "ada@acme.example", ["name": "ci", "role": "member"])
        try call("POST", "/v1/orgs/acme/api-keys", as: "kemi@acme.example", ["name": "billing sync", "role": "viewer"])
        try call("POST", "/v1/orgs/acme/auth/reset", as: "ada@acme.example")
        let key = try call("POST", "/v1/orgs/acme/api-keys", as: "ada@acme.example", ["name": "deploy", "role": "admin"])
        // globex: a rename; initech: a scheduled deletion.
        try call("POST", "/v1/orgs/globex/handle", as: "hank@globex.example", ["handle": "globex-corp"])
        try call("POST", "/v1/orgs/initech/deletion", as: "bill@initech.example", ["confirm": "initech"])

        print("demo: \(events) commands applied.")
        print(Table.render([
            ["handle": "acme", "owners": "ada@acme.example, alice@acme.example", "note": "chen suspended; keys reset, then 'deploy' created"],
            ["handle": "globex-corp", "owners": "hank@globex.example", "note": "renamed from globex (held 30 days)"],
            ["handle": "initech", "owners": "bill@initech.example", "note": "deletion scheduled; purged in 30 days"],
        ], columns: ["handle", "owners", "note"]))
        print("try:  orgledger member list acme --as ada@acme.example --socket \(socket)")
        print("      orgledger org audit acme --as ada@acme.example --socket \(socket)")
        print("      echo '\(key["secret"]?.stringValue ?? "…")' | orgledger key verify --socket \(socket)")
    }
}
