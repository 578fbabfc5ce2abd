import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB

// MARK: Erasure

/// The purge of a user who appears in 10,000 events (issue #12: under 1 s): ada, a co-owner of one org,
/// renames it back and forth 10,000 times with a client IP and user agent (20,000 values in the
/// personal-data store, one org whose stream names her throughout), schedules her account's deletion,
/// and the due-event run 31 days later purges her: the org's removal, `user.erased`, every value, her
/// lookups and replies, in one transaction. Five runs, each on a fresh folder; the medians.
@MainActor func erasureOfAHeavyUser() async throws {
    print("")
    print("| erasure of a user in 10,000 events | values held | purge ms (median of 5) | min | max |")
    print("|---|---:|---:|---:|---:|")
    var times: [Double] = []
    var values = 0
    for run in 0..<5 {
        let path = try freshFolder("erasure-\(run)", in: baseDir)
        let store = try LMDBLedger(path: path)
        let now = Timestamp(millisecondsSinceEpoch: 1_795_810_740_123)
        let ada = Email(trusted: "ada@heavy.example"), owner = Email(trusted: "owner@heavy.example")
        func must(_ command: Command, by actor: Email, on target: OrgRef, meta: EventMeta = EventMeta()) async throws {
            let outcome = try await store.pipeline.execute(CommandRequest(target: target, command: command, actor: actor, now: now, meta: meta))
            guard case .applied = outcome else { fatalError("refused: \(outcome)") }
        }
        try await must(.createOrg(orgID: "org_heavy", handle: "heavy", displayName: "Heavy"), by: owner, on: .new("org_heavy"))
        try await must(.invite(people: [.email(ada.value)], role: "admin", ttlDays: nil, invitationIDs: ["inv_ada"]), by: owner, on: .id("org_heavy"))
        try await must(.acceptInvitation(id: "inv_ada"), by: ada, on: .invitation("inv_ada"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<10_000 {
                group.addTask {
                    let meta = EventMeta(clientIP: PersonalValue(committing: "198.51.100.\(n % 250)"), userAgent: PersonalValue(committing: "HeavyClient/\(n)"))
                    let outcome = try await store.pipeline.execute(CommandRequest(
                        target: .id("org_heavy"), command: .updateProfile(displayName: "Heavy \(n)", avatarURL: nil), actor: ada, now: now, meta: meta))
                    guard case .applied = outcome else { fatalError("refused: \(outcome)") }
                }
                if n % 64 == 63 { try await group.waitForAll() }
            }
        }
        let scheduled = try await store.pipeline.execute(
            UserCommandRequest(account: ada, command: .scheduleDeletion(confirm: ada.value), actor: ada, now: now), render: { _ in .none })
        guard case .applied = scheduled else { fatalError("refused: \(scheduled)") }
        values = try store.environment.read { txn in try store.tables.people.disclosures(after: 0, in: txn).count }
        let start = now_()
        let appended = try await store.pipeline.appendDue(now: now.adding(days: 31))
        let elapsed = now_() - start
        guard appended >= 2 else { fatalError("the purge appended \(appended) events") }
        times.append(Double(elapsed) / 1e6)
        store.close()
        try? FileManager.default.removeItem(atPath: path)
    }
    let sorted = times.sorted()
    print("| 10,000 events by her, 2 values each | \(values) | \(fmt(sorted[sorted.count / 2])) | \(fmt(sorted.first!)) | \(fmt(sorted.last!)) |")
}
