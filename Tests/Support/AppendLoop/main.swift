// orgledger-append-loop DATA_DIR
//
// A child process for crash tests (Tests/EventLogTests/LMDBLogTests.swift, Tests/e2e): runs real org
// commands through the command pipeline and the group-commit writer from 8 concurrent tasks, forever —
// each task creates an org, then invites people who accept — and prints "SEQ HASH" for every event once
// its command is acknowledged. The tests kill it with SIGKILL and check that every printed line is there.
import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB

guard CommandLine.arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: orgledger-append-loop DATA_DIR\n".utf8))
    exit(2)
}
let store = try LMDBLedger(path: CommandLine.arguments[1], configuration: .init(mapSize: 64 << 10))
let start = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
// Random per run (up to 32^8), so two runs on one folder make different ids and handles.
let run = Int.random(in: 0..<(1 << 40))

/// An id of the service's shape (`prefix_` + 26 base32 characters), unique per (run, task, n), so the
/// log this child writes can be exported and imported like the service's own.
func serviceID(_ prefix: String, _ run: Int, _ task: Int, _ n: Int) -> String {
    let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz")
    var digits: [Character] = []
    for var part in [run, task, n] {
        for _ in 0..<8 {
            digits.append(alphabet[part % 32])
            part /= 32
        }
    }
    return prefix + "_" + String(repeating: "0", count: 26 - digits.count) + String(digits)
}

/// One write(2) per acknowledged command: unbuffered, so nothing acknowledged is lost with the process.
func acknowledge(_ outcome: CommandOutcome) {
    guard case .applied(_, let events, _) = outcome, !events.isEmpty else { return }
    var lines = ""
    for event in events { lines += "\(event.seq) \(event.hash.hex)\n" }
    var bytes = Array(lines.utf8)
    _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
}

try await withThrowingTaskGroup(of: Void.self) { group in
    for task in 0..<8 {
        group.addTask {
            let owner = "owner-\(task)@example.com"
            let orgID = serviceID("org", run, task, 0)
            func execute(_ command: Command, by actor: String, on target: OrgRef) async throws {
                acknowledge(try await store.pipeline.execute(CommandRequest(
                    target: target, command: command, actor: Email(trusted: actor), now: start,
                    meta: EventMeta(requestId: UUID().uuidString, userAgent: PersonalValue(committing: "orgledger-append-loop")))))
            }
            try await execute(.createOrg(orgID: orgID, handle: "org-\(run)-\(task)", displayName: "Loop \(task)"), by: owner, on: .new(orgID))
            var n = 0
            while true {
                n += 1
                let invitee = "user-\(n)@t\(task).example.com"
                let id = serviceID("inv", run, task, n)
                try await execute(.invite(people: [.email(invitee)], role: ["member", "viewer", "moderator"][n % 3], ttlDays: nil, invitationIDs: [id]), by: owner, on: .id(orgID))
                try await execute(.acceptInvitation(id: id), by: invitee, on: .invitation(id))
            }
        }
    }
    try await group.waitForAll()
}
