import EventLog
import LedgerCore
import Testing

/// One contract, two implementations: every test here runs against the in-memory and the LMDB log.
@Suite("Event log contract")
struct ContractTests {
    @Test("a multi-event append is atomic and gets consecutive seqs and versions", arguments: LogKind.allCases)
    func multiEventAppend(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        let log = subject.log
        let receipt = try await log.append(AppendRequest(stream: "org_a", expectedVersion: .noStream, events: [event("a.one"), event("a.two"), event("a.three")]))
        #expect(receipt.events.map(\.seq) == [1, 2, 3])
        #expect(receipt.events.map(\.version) == [1, 2, 3])
        #expect(receipt.events.map(\.envelope.type) == ["a.one", "a.two", "a.three"])
        #expect(receipt.events[0].envelope.prevHash == .genesis)
        #expect(receipt.events[1].envelope.prevHash == receipt.events[0].hash)
        #expect(try log.head() == LogHead(seq: 3, hash: receipt.events[2].hash))
        #expect(try log.version(ofStream: "org_a") == 3)
    }

    @Test("a wrong expected version conflicts and writes nothing", arguments: LogKind.allCases)
    func conflict(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        // In a helper that answers text: this scenario inline overflowed the test's async frame under
        // AddressSanitizer (swiftc 6.3.1; README, "Notes for contributors").
        let steps = try await Self.conflictScenario(subject.log)
        #expect(steps == [
            "conflict: expected 0, actual 1", "conflict: expected 5, actual 1", "head unchanged", "version 1", "next seq 2",
        ])
    }

    static func conflictScenario(_ log: any EventLog) async throws -> [String] {
        _ = try await log.append(AppendRequest(stream: "org_a", expectedVersion: .noStream, events: [event()]))
        let head = try log.head()
        var steps: [String] = []
        for expected in [ExpectedVersion.noStream, .exactly(5)] {
            let refusal = await thrownError {
                try await log.append(AppendRequest(stream: "org_a", expectedVersion: expected, events: [event(), event()]))
            }
            if case .conflict(let stream, .exactly(let wanted), let actual)? = refusal as? AppendError, stream == "org_a" {
                steps.append("conflict: expected \(wanted), actual \(actual)")
            } else {
                steps.append("\(String(describing: refusal))")
            }
        }
        steps.append(try log.head() == head ? "head unchanged" : "head moved")
        steps.append("version \(try log.version(ofStream: "org_a"))")
        let next = try await log.append(AppendRequest(stream: "org_a", expectedVersion: .exactly(1), events: [event()]))
        steps.append("next seq \(next.firstSeq)")
        return steps
    }

    @Test("one invalid event refuses the whole append", arguments: LogKind.allCases)
    func invalidIsAtomic(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        let log = subject.log
        let bad = NewEvent(type: "x", at: testTime, actor: "a@b.c", data: .array([]))
        let refusal3 = await thrownError {
            try await log.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event(), bad]))
        }
        #expect(refusal3 is AppendError)
        let huge = event("x", ["n": .int(JSONValue.maxSafeInteger + 1)])
        let refusal4 = await thrownError {
            try await log.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: [event(), huge]))
        }
        #expect(refusal4 is AppendError)
        for stream in ["", "a\u{0}b", String(repeating: "s", count: 201)] {
            let refusal5 = await thrownError {
                try await log.append(AppendRequest(stream: stream, expectedVersion: .any, events: [event()]))
            }
            #expect(refusal5 is AppendError)
        }
        let refusal6 = await thrownError {
            try await log.append(AppendRequest(stream: "org_a", expectedVersion: .any, events: []))
        }
        #expect(refusal6 is AppendError)
        let head = try log.head()
        let events = try log.events(after: 0, limit: 10)
        #expect(head == .empty)
        #expect(events.isEmpty)
    }

    @Test("reads: forward from any seq, one stream from a version, with limits", arguments: LogKind.allCases)
    func reads(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        let log = subject.log
        for i in 0..<10 {
            _ = try await log.append(AppendRequest(stream: i % 2 == 0 ? "org_even" : "org_odd", expectedVersion: .any, events: [event("t", ["i": .int(Int64(i))])]))
        }
        #expect(try log.events(after: 0, limit: 100).map(\.seq) == Array(1...10))
        #expect(try log.events(after: 7, limit: 100).map(\.seq) == [8, 9, 10])
        #expect(try log.events(after: 2, limit: 3).map(\.seq) == [3, 4, 5])
        #expect(try log.events(after: 10, limit: 5).isEmpty)
        #expect(try log.events(after: 0, limit: 0).isEmpty)
        let odd = try log.events(inStream: "org_odd", fromVersion: 1, limit: 100)
        #expect(odd.map(\.seq) == [2, 4, 6, 8, 10])
        #expect(odd.map(\.version) == [1, 2, 3, 4, 5])
        #expect(try log.events(inStream: "org_odd", fromVersion: 4, limit: 100).map(\.version) == [4, 5])
        #expect(try log.events(inStream: "org_even", fromVersion: 2, limit: 2).map(\.seq) == [3, 5])
        #expect(try log.events(inStream: "org_none", fromVersion: 1, limit: 100).isEmpty)
        // A stream whose id is a prefix of another is not confused with it.
        _ = try await log.append(AppendRequest(stream: "org_o", expectedVersion: .noStream, events: [event()]))
        #expect(try log.version(ofStream: "org_o") == 1)
        #expect(try log.version(ofStream: "org_odd") == 5)
        #expect(try log.events(inStream: "org_o", fromVersion: 1, limit: 100).map(\.seq) == [11])
        // What is read is what was written: the envelope and its bytes agree.
        for recorded in try log.events(after: 0, limit: 100) {
            #expect(try recorded.envelope.canonicalBytes() == recorded.canonicalBytes)
            #expect(ChainHash.of(recorded.canonicalBytes) == recorded.hash)
        }
    }

    @Test("64 concurrent appenders: seqs gap-free, every stream's versions gap-free, chain intact", arguments: LogKind.allCases)
    func concurrentAppenders(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        let log = subject.log
        let appenders = 64, appendsEach = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for a in 0..<appenders {
                group.addTask {
                    for n in 0..<appendsEach {
                        // Own stream with an exact expected version, and a shared stream with .any.
                        _ = try await log.append(AppendRequest(stream: "own-\(a)", expectedVersion: .exactly(UInt64(n)), events: [event("own", ["a": .int(Int64(a))])]))
                        _ = try await log.append(AppendRequest(stream: "shared", expectedVersion: .any, events: [event("s1"), event("s2")]))
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = appenders * appendsEach * 3
        let all = try log.events(after: 0, limit: total + 10)
        #expect(all.map(\.seq) == (1...UInt64(total)).map { $0 })
        for a in 0..<appenders {
            let own = try log.events(inStream: "own-\(a)", fromVersion: 1, limit: 1000)
            #expect(own.map(\.version) == (1...UInt64(appendsEach)).map { $0 })
            #expect(own.allSatisfy { $0.envelope.data["a"] == .int(Int64(a)) })
        }
        let shared = try log.events(inStream: "shared", fromVersion: 1, limit: 10_000)
        #expect(shared.map(\.version) == (1...UInt64(appenders * appendsEach * 2)).map { $0 })
        // The two events of one append are adjacent in the log.
        for pair in stride(from: 0, to: shared.count, by: 2) {
            #expect(shared[pair].envelope.type == "s1" && shared[pair + 1].envelope.type == "s2")
            #expect(shared[pair + 1].seq == shared[pair].seq + 1)
        }
        let report = try log.verifyChain(progress: nil)
        #expect(report.isIntact)
        #expect(report.eventsChecked == UInt64(total))
        #expect(report.head == (try log.head()))
    }

    @Test("racing appends with the same expected version: exactly one wins per version", arguments: LogKind.allCases)
    func racingAppends(kind: LogKind) async throws {
        let subject = try await kind.makeLog()
        defer { subject.close() }
        let log = subject.log
        for version in 0..<5 {
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        do {
                            _ = try await log.append(AppendRequest(stream: "contested", expectedVersion: .exactly(UInt64(version)), events: [event()]))
                            return true
                        } catch AppendError.conflict {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 1)
        }
        #expect(try log.version(ofStream: "contested") == 5)
        #expect(try log.head().seq == 5)
    }
}
