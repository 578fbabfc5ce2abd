import CLMDB
import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain
import Ledger
import LedgerLMDB

/// Writes a log of about `count` realistic org events straight through the domain and the log (no
/// views, large transactions): 2,000 orgs, people invited and accepting, role changes, in interleaved
/// order. Returns the number of events.
func generateOrgLog(_ environment: Environment, count: Int) throws -> Int {
    let log = try LogTables(environment: environment)
    let orgCount = 2000
    var states: [String: OrgState] = [:]
    var written = 0
    var step = 0
    let now = Timestamp(millisecondsSinceEpoch: 1_795_810_740_123)
    func run(_ command: Command, by actor: String, on orgID: String, in txn: borrowing WriteTransaction) throws {
        // People as the ledger names them: by user id (a fixed spelling of the email here; no store).
        @Sendable func user(_ email: String) -> UserID { UserID(trusted: "usr_" + email) }
        let context = DecisionContext(now: now, people: { user($0.value) })
        guard case .success(let events) = decide(command, by: .user(user(actor)), state: states[orgID], context: context), !events.isEmpty else { return }
        let request = AppendRequest(stream: orgID, expectedVersion: .exactly(states[orgID]?.version ?? 0),
                                    events: events.map { $0.newEvent(at: now, actor: .user(user(actor)), meta: EventMeta(requestId: "bench-\(written)")) })
        guard case .success(let receipt) = try log.append(request, in: txn) else { fatalError("append refused") }
        for (event, recorded) in zip(events, receipt.events) {
            apply(&states[orgID], event, EventContext(at: now, actor: .user(user(actor)), version: recorded.version))
        }
        written += events.count
    }
    while written < count {
        try environment.write { txn in
            let target = min(count, written + 20_000)
            while written < target {
                let o = step % orgCount
                let n = step / orgCount
                let orgID = "org_bench_\(o)", owner = "owner@org\(o).example.com"
                step += 1
                if n == 0 {
                    try run(.createOrg(orgID: orgID, handle: "bench-org-\(o)", displayName: "Bench org \(o)"), by: owner, on: orgID, in: txn)
                    continue
                }
                let member = "member-\(n / 3)@org\(o).example.com"
                switch n % 3 {
                case 1: try run(.invite(people: [.email(member)], role: "member", ttlDays: nil, invitationIDs: ["inv_\(o)_\(n)"]), by: owner, on: orgID, in: txn)
                case 2: try run(.acceptInvitation(id: "inv_\(o)_\(n - 1)"), by: member, on: orgID, in: txn)
                default: try run(.changeRole(member: .email("member-\(n / 3 - 1)@org\(o).example.com"), role: "viewer"), by: owner, on: orgID, in: txn)
                }
            }
        }
    }
    return written
}

@MainActor func rebuildBenchmark() throws {
    let path = try freshFolder("rebuild", in: baseDir)
    // A map large enough up front: the generator's write closures have side effects and must not be re-run
    // by map growth.
    let environment = try Environment(path: path, configuration: .init(mapSize: 16 << 30))
    var start = now()
    let events = try generateOrgLog(environment, count: rebuildEvents)
    let generated = now() - start
    let raw = rawScan(path: path)

    let tables = try ProjectionTables(environment: environment, log: try LogTables(environment: environment), key: InstanceKey.generate())
    // `--repeat N`: this machine's speed drifts by a quarter within minutes, so the rebuild (over the
    // views the previous round wrote, as `orgledger rebuild` does) and its baseline run N times,
    // alternating, and the medians are reported.
    var rounds: [(rebuild: UInt64, raw: (count: Int, nanos: UInt64), phases: RebuildPhases)] = []
    for round in 0..<rebuildRepeats {
        let rawRound = round == 0 ? raw : rawScan(path: path)
        start = now()
        let phases = try Replay.rebuild(environment: environment, tables: tables)
        rounds.append((now() - start, rawRound, phases))
    }
    let byTime = rounds.sorted { $0.rebuild < $1.rebuild }
    let median = byTime[byTime.count / 2]
    let rebuild = median.rebuild
    let rawNanos = rounds.map(\.raw.nanos).sorted()[rounds.count / 2]
    let rawRate = rate(raw.count, rawNanos)
    start = now()
    let problem = try environment.read { txn in try Replay.verify(tables: tables, in: txn) }
    let verify = now() - start
    precondition(problem == nil, "the rebuilt views do not verify: \(problem!)")

    print("")
    let label = rounds.count > 1 ? " (median of \(rounds.count))" : ""
    print("| rebuild of a \(events)-event org log (2,000 orgs)\(label) | seconds | events/s | vs plain cursor |")
    print("|---|---:|---:|---:|")
    print("| plain LMDB cursor over `events` (baseline) | \(String(format: "%.2f", Double(rawNanos) / 1e9)) | \(fmt(rawRate)) | 1.00 |")
    print("| `orgledger rebuild`: fold + every view + audit rows | \(String(format: "%.2f", Double(rebuild) / 1e9)) | \(fmt(rate(events, rebuild))) | \(fmt(rate(events, rebuild) / rawRate)) |")
    print("| views verify (replay + compare every row) | \(String(format: "%.2f", Double(verify) / 1e9)) | \(fmt(rate(events, verify))) | \(fmt(rate(events, verify) / rawRate)) |")
    if rounds.count > 1 {
        print("(rebuild rounds, events/s: \(rounds.map { fmt(rate(events, $0.rebuild)) }.joined(separator: ", ")))")
    }
    print("(phases of the median rebuild: \(median.phases))")
    print("(generating the log through the domain took \(String(format: "%.1f", Double(generated) / 1e9)) s)")
    if keepData { print("(kept the data folder: \(path))") } else { try? FileManager.default.removeItem(atPath: path) }
}

/// Where a replay's time goes: each stage of the fold added in turn (diagnostic, `--only stages`).
@MainActor func replayStages() throws {
    let path = try freshFolder("stages", in: baseDir)
    let environment = try Environment(path: path, configuration: .init(mapSize: 16 << 30))
    let events = try generateOrgLog(environment, count: rebuildEvents)
    let log = try LogTables(environment: environment)
    for stage in 1...5 {
        let start = now()
        var states: [String: OrgState] = [:]
        var sink = 0
        try environment.read { txn in
            try log.forEachEvent(after: 0, in: txn) { seq, _, bytes in
                let view = try EnvelopeView.read(bytes)
                if stage >= 2 {
                    let data = try view.dataMembers(in: bytes)
                    if stage >= 3 {
                        let event = try OrgEvent(type: view.type, members: data)
                        if stage >= 4 {
                            apply(&states[view.stream], event, EventContext(at: view.at, actor: Actor(recorded: view.actor), version: view.version))
                        }
                        if stage >= 5 {
                            // The audit index entry, as the fold writes it (the full row is rendered only when read).
                            sink &+= Render.auditEntry(at: view.at, actor: view.actor, action: view.type, target: Render.target(of: event, orgID: view.stream)).count
                        }
                    }
                }
                sink &+= Int(seq)
                return true
            }
        }
        let names = ["", "envelope view", "+ parse data", "+ decode event", "+ apply (fold)", "+ render the audit entry"]
        print("| \(names[stage]) | \(fmt(rate(events, now() - start))) events/s |")
        if sink == -1 { print("") }
    }
    try? FileManager.default.removeItem(atPath: path)
}
