import EventLog
import HTTPTypes
import Ledger
import LedgerCore
import LedgerLMDB
import OrgDomain
import Service
import Synchronization
import Testing

@Suite("Due events runner")
struct DueEventsRunnerTests {
    @Test("runs at start-up and on every tick, appending each due event exactly once", arguments: Backend.allCases)
    func runsAndTicks(_ backend: Backend) async throws {
        let f = try await APIFixture(backend)
        defer { f.close() }
        try await f.withClient { client in
            let org = try await client.createOrg("acme")
            let sent = try await client.send(.post, "/v1/orgs/\(org)/invitations", as: owner, json: #"{"emails":["ada@example.com"],"role":"member","ttl_days":1}"#)
            #expect(sent.status == .created)
        }
        f.clock.advance(days: 2)  // already due when the runner starts
        let passes = Mutex<[Int]>([])
        let clock = f.clock
        let runner = DueEventsRunner(ledger: f.ledger, clock: { clock.now }, interval: .milliseconds(20)) { result in
            if case .success(let n) = result { passes.withLock { $0.append(n) } }
        }
        let task = Task { await runner.run() }
        // Wait for a few ticks (bounded): a loaded machine may take longer than the interval per pass.
        for _ in 0..<500 where passes.withLock({ $0.count }) < 3 {
            try await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        await task.value
        let counts = passes.withLock { $0 }
        #expect(counts.first == 1, "the start-up pass appends the expiry")
        #expect(counts.count >= 3, "the runner keeps ticking")
        #expect(counts.dropFirst().allSatisfy { $0 == 0 }, "nothing is appended twice")
        let lines = try await f.ledger.events(after: 0, limit: 100)
        let types = String(decoding: lines.bytes, as: UTF8.self).split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8))["type"]?.stringValue }
        #expect(types.filter { $0 == "invitation.expired" }.count == 1)
    }
}
