import Dispatch
import Foundation
import LedgerCore
import Synchronization

/// Issue #13's target: a directory sync of `users` users into one org over SCIM (create each, then list
/// all with paging) against the same number of REST invitations + accepts over the socket, on the same
/// release binary, alternately, in the same minutes. Each side starts a fresh service on a fresh folder.
/// 16 clients, as an identity provider's sync runs in parallel (a single client adds minutes per round on
/// a slow disk and shows the same ratio: the commit bounds both sides).
let syncClients = [16]

@MainActor func directorySync() throws {
    let users = 10_000
    print("")
    print("| directory sync of \(users) users into one org | clients | round | users/s | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    var rates: [String: [Double]] = [:]
    for round in 1...3 {
        for clients in syncClients {
            for side in ["REST invite + accept", "SCIM create + list"] {
                let (rate, failures) = try syncRound(scim: side.hasPrefix("SCIM"), users: users, clients: clients)
                rates["\(side), \(clients)", default: []].append(rate)
                print("| \(side) | \(clients) | \(round) | \(fmt(rate)) | \(failures) |")
            }
        }
    }
    print("")
    print("| medians of 3 | clients | REST users/s | SCIM users/s | SCIM / REST |")
    print("|---|---:|---:|---:|---:|")
    for clients in syncClients {
        let rest = rates["REST invite + accept, \(clients)"]!.sorted()[1], scim = rates["SCIM create + list, \(clients)"]!.sorted()[1]
        print("| sync | \(clients) | \(fmt(rest)) | \(fmt(scim)) | \(String(format: "%.2f", scim / rest)) |")
    }
}

/// One side of one round: users/s over the whole sync, and how many requests were not 2xx.
@MainActor private func syncRound(scim: Bool, users: Int, clients: Int) throws -> (Double, Int) {
    let data = try freshFolder("sync-\(scim ? "scim" : "rest")-\(clients)", in: baseDir)
    let (process, socket) = try startService(data: data)
    defer {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: data)
    }
    let owner = "X-Actor: owner@sync.example"
    let setup = try KeepAliveConnection(path: socket)
    _ = try setup.exchange("POST", "/v1/orgs", headers: [owner], body: #"{"handle":"sync","display_name":"Sync"}"#)
    let made = try setup.exchange("POST", "/v1/orgs/sync/api-keys", headers: [owner], body: #"{"name":"idp","role":"admin"}"#)
    guard let secret = (try? JSONParser.parse(made.body))?["secret"]?.stringValue else { fatalError("no key: \(made.status)") }
    let bearer = "Authorization: Bearer \(secret)"
    let failures = Atomic<Int>(0)
    let group = DispatchGroup()
    let perClient = users / clients
    let start = now_()
    for c in 0..<clients {
        group.enter()
        Thread {
            defer { group.leave() }
            guard let connection = try? KeepAliveConnection(path: socket) else {
                failures.add(perClient, ordering: .relaxed)
                return
            }
            for n in 0..<perClient {
                let email = "u\(n)-c\(c)@sync.example"
                if scim {
                    let body = #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"\#(email)","active":true,"#
                        + #""emails":[{"value":"\#(email)","type":"work","primary":true}],"externalId":"ext-\#(c)-\#(n)","name":{"givenName":"U\#(n)","familyName":"C\#(c)"}}"#
                    let reply = try? connection.exchange("POST", "/scim/v2/Users", headers: [bearer], body: body)
                    if reply?.status != 201 { failures.add(1, ordering: .relaxed) }
                } else {
                    let sent = try? connection.exchange("POST", "/v1/orgs/sync/invitations", headers: [owner], body: #"{"emails":["\#(email)"],"role":"member"}"#)
                    guard sent?.status == 201, let id = (try? JSONParser.parse(sent!.body))?["invitations"]?.arrayValue?.first?["id"]?.stringValue else {
                        failures.add(1, ordering: .relaxed)
                        continue
                    }
                    let accepted = try? connection.exchange("POST", "/v1/invitations/\(id)/accept", headers: ["X-Actor: \(email)"])
                    if accepted?.status != 200 { failures.add(1, ordering: .relaxed) }
                }
            }
        }.start()
    }
    group.wait()
    if scim {
        // The IdP's read back: every user, 100 a page, as Okta and Entra ID page.
        // A connection of its own: `setup` has sat idle through the sync, past the service's idle timeout.
        let reader = try KeepAliveConnection(path: socket)
        var startIndex = 1, listed = 0
        while true {
            let page = try reader.exchange("GET", "/scim/v2/Users?startIndex=\(startIndex)&count=100", headers: [bearer])
            guard page.status == 200, let value = try? JSONParser.parse(page.body), let resources = value["Resources"]?.arrayValue else {
                failures.add(1, ordering: .relaxed)
                break
            }
            listed += resources.count
            if resources.isEmpty || listed >= Int(value["totalResults"]?.intValue ?? 0) { break }
            startIndex += resources.count
        }
        if listed != users + 1 { fatalError("listed \(listed) of \(users + 1)") }
    }
    return (rate(users, now_() - start), failures.load(ordering: .relaxed))
}
