import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import class Foundation.Thread
import Synchronization
import EventLog
import LMDB
import Ledger
import LedgerCore
import OrgDomain

/// The first place where the views differ from a fresh replay of the log.
public struct ProjectionProblem: Sendable, Hashable, CustomStringConvertible {
    public let row: String
    public let reason: String
    public var description: String { "\(row): \(reason)" }
}

/// Folds events, in log order, into every org's state, writing each event's audit entry to a sink.
struct Folder {
    private(set) var states: [String: OrgState] = [:]
    private var maxAts: [String: Timestamp] = [:]
    private(set) var lastSeq: UInt64 = 0

    /// Folds one stored event; its audit entry and any snapshot it makes due go to `sink`.
    mutating func feed(seq: UInt64, bytes: UnsafeRawBufferPointer, into sink: inout some RowSink) throws {
        lastSeq = max(lastSeq, seq)
        let (view, data) = try EnvelopeView.readWithData(bytes)
        guard OrgAggregate.owns(stream: view.stream) else { return }  // user and ledger streams have no org views
        let event = try OrgAggregate.decode(type: view.type, data: data)
        Self.addAuditEntry(of: event, view, seq: seq, to: &sink)
        OrgAggregate.apply(&states[view.stream], event, recordedAs: view)
        let maxAt = max(maxAts[view.stream] ?? StateCache.noTime, view.at)
        maxAts[view.stream] = maxAt
        SnapshotRow.addIfDue(states[view.stream], seq: seq, maxAt: maxAt, to: &sink)
        lastSeq = max(lastSeq, seq)
    }

    /// An event's audit index entry, as the projector writes it.
    static func addAuditEntry(of event: OrgEvent, _ view: EnvelopeView, seq: UInt64, to sink: inout some RowSink) {
        let target = Render.target(of: event, orgID: view.stream)
        sink.add(
            .audit, key: { Keys.appendAudit(view.stream, seq, to: &$0) },
            value: { Render.auditEntry(at: view.at, actor: view.actor, action: view.type, target: target, into: &$0) })
    }

    /// Renders every org's view rows into `arena` and sorts it; the states are dropped.
    mutating func finish(into arena: RowArena) {
        var sink = arena
        for state in states.values { RowSet.allRows(of: state, into: &sink) }
        states = [:]
        arena.sort()
    }
}

/// Writes each audit entry into the slot the stream index gave its event.
private struct SlottedAudit: RowSink {
    let arena: RowArena
    var slot = 0

    func add(_ table: ProjectionTables.Table, key: (inout [UInt8]) -> Void, value: (inout [UInt8]) -> Void) {
        arena.add(table, at: slot, key: key, value: value)
    }
}

/// Fresh replays of the log: to rebuild the views, and to check them.
public enum Replay {
    /// Drops and re-derives every view from the log, and checks the Merkle tree against it (re-deriving
    /// it when it differs); returns how long each phase took.
    ///
    /// Orgs are independent, so the log is folded on two threads, each owning half of the orgs (see
    /// `Fold`); a third compares the stored Merkle tree with the log's meanwhile (`TreeCheck`). As soon
    /// as both have folded and the check has answered, this thread empties the tables and writes the audit index
    /// — whose entries the fold already laid out in key order — while the fold threads render their
    /// orgs' view rows into their arenas and sort them; then the views are written, each table by
    /// appending the arenas merged in key order. The format version is written last: a rebuild cut
    /// short leaves none, and the next start rebuilds again. Needs the data folder to itself (no
    /// writer running).
    @discardableResult
    public static func rebuild(
        environment: Environment, tables: ProjectionTables, threads: Int = 2, progress: ((UInt64) -> Void)? = nil
    ) throws -> RebuildPhases {
        var phases = RebuildPhases()
        var clock = Stopwatch()
        let treeCheck = TreeCheck(environment: environment, log: tables.log)
        defer { _ = try? treeCheck.firstDifference() }  // its read transaction ends before this does, on every path
        let fold = try Fold(environment: environment, log: tables.log, threads: threads, progress: progress)
        phases.streamIndex = clock.lap()
        fold.start()
        let lastSeq = try fold.waitUntilFolded()
        phases.fold = clock.lap()
        phases.foldCPU = fold.foldCPUSeconds
        // The tree is the log's, not a view: derived again beside the fold, and rewritten only if the
        // stored one differs (a rebuild of an untouched log writes no tree page). Awaited before the views
        // are emptied, so that no read transaction of it keeps their freed pages from being reused.
        let treeDiffers = try treeCheck.firstDifference() != nil
        phases.treeCheckCPU = treeCheck.cpuSeconds
        if treeDiffers {
            try environment.write { txn in try tables.log.rederiveTree(in: txn) }
            phases.treeRewritten = true
        }
        phases.tree = clock.lap()
        // Emptied in a transaction of its own, so the next ones can reuse the freed pages. Each puts
        // only precomputed rows, so a map growth that re-runs one is harmless. The audit index is
        // written (and its commit syncs) while the fold threads render and sort the views.
        try environment.write { txn in
            for table in ProjectionTables.Table.allCases { try txn.empty(tables[table]) }
            try txn.empty(tables.meta)
        }
        phases.empty = clock.lap()
        try environment.write { txn in try write([.audit], from: fold.audit, tables: tables, in: txn) }
        phases.auditWrite = clock.lap()
        fold.waitUntilRendered()
        phases.renderAndSortWait = clock.lap()
        try environment.write { txn in
            // The org-keyed tables as soon as they are rendered, the rest once sorted.
            fold.waitUntilRendered()
            try write(Fold.finalWhenRendered, from: fold.views, tables: tables, in: txn)
            try fold.waitUntilSorted()
            let rest = ProjectionTables.Table.allCases.filter { $0 != .audit && !Fold.finalWhenRendered.contains($0) }
            try write(rest, from: fold.views, tables: tables, in: txn)
            try tables.setMeta(lastSeq: lastSeq, in: txn)
            try tables.setFormatVersion(in: txn)
        }
        phases.viewWrite = clock.lap()
        phases.renderAndSort = fold.renderAndSortSeconds
        return phases
    }

    /// Appends the merged arenas' rows of `only` to their (emptied) tables.
    private static func write(
        _ only: [ProjectionTables.Table], from arenas: [RowArena], tables: ProjectionTables, in txn: borrowing WriteTransaction
    ) throws {
        for table in only.sorted() {
            try txn.withCursor(on: tables[table]) { cursor in
                try RowArena.forEachMerged(arenas, in: table) { key, value in
                    try cursor.put(key: key, value: value, flags: .append)
                    return true
                }
            }
        }
    }

    /// Compares every view, the audit index included, with a fresh replay of the log in `txn`'s
    /// snapshot; returns the first differing row, or nil.
    public static func verify(tables: ProjectionTables, in txn: borrowing some TransactionReading & ~Copyable, progress: ((UInt64) -> Void)? = nil) throws -> ProjectionProblem? {
        var folder = Folder()
        var arena = RowArena(capacity: 64 << 20)
        try tables.log.forEachEvent(after: 0, in: txn) { seq, _, bytes in
            try folder.feed(seq: seq, bytes: bytes, into: &arena)
            if seq & 0x3FFF == 0 { progress?(seq) }
            return true
        }
        let lastSeq = folder.lastSeq
        folder.finish(into: arena)
        let stored = try tables.lastAppliedSeq(in: txn)
        if stored != lastSeq {
            return ProjectionProblem(row: "projection_meta[last_seq]", reason: "is \(stored), the log ends at \(lastSeq)")
        }
        // Every table side by side with the replay, in key order.
        for table in ProjectionTables.Table.allCases.sorted() {
            let expected = arena.entries(table)
            var index = 0
            var problem: ProjectionProblem?
            func name(_ key: UnsafeRawBufferPointer) -> String { Row(table: table, key: Array(key), value: []).name }
            try txn.withCursor(on: tables[table]) { cursor in
                try cursor.forEach { entry in
                    let c = index < expected.count ? RowArena.compare(arena.key(expected[index]), entry.key) : 1
                    if c < 0 {
                        problem = ProjectionProblem(row: name(arena.key(expected[index])), reason: "missing")
                    } else if c > 0 {
                        problem = ProjectionProblem(row: name(entry.key), reason: "not in a fresh replay")
                    } else if RowArena.compare(arena.value(expected[index]), entry.value) != 0 {
                        problem = ProjectionProblem(row: name(entry.key), reason: "differs from a fresh replay")
                    }
                    index += 1
                    return problem == nil
                }
            }
            if let problem { return problem }
            if index < expected.count {
                return ProjectionProblem(row: name(arena.key(expected[index])), reason: "missing")
            }
        }
        return nil
    }
}

/// Seconds spent in each phase of a rebuild (`scripts/bench` prints them).
public struct RebuildPhases: Sendable, CustomStringConvertible {
    public var streamIndex = 0.0, fold = 0.0, empty = 0.0, auditWrite = 0.0, tree = 0.0, renderAndSort = 0.0, renderAndSortWait = 0.0, viewWrite = 0.0
    /// Whether the stored tree differed from the log's and was written again.
    public var treeRewritten = false
    /// CPU seconds of the thread that compared the stored tree with the log's.
    public var treeCheckCPU = 0.0
    /// CPU seconds of the fold threads, summed (the machine may not give them a core each).
    public var foldCPU = 0.0

    public var description: String {
        func f(_ s: Double) -> String { String(Int((s * 1000).rounded())) + " ms" }
        return "stream index \(f(streamIndex)), fold \(f(fold)) (CPU \(f(foldCPU))), then waited \(f(tree)) for the Merkle tree (checked beside the fold, "
            + "CPU \(f(treeCheckCPU)), \(treeRewritten ? "rewritten" : "unchanged")), empty the views \(f(empty)), audit write \(f(auditWrite)) "
            + "(meanwhile render + sort \(f(renderAndSort)), waited \(f(renderAndSortWait)) for the rendering), views write \(f(viewWrite)) "
            + "(sorting the cross-org tables meanwhile)"
    }
}

struct Stopwatch {
    private var last = DispatchTime.now().uptimeNanoseconds

    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e9
    }
}

/// The stored Merkle tree compared with the log's on a thread of its own, beside the fold: it reads only
/// the log and the tree, which a rebuild does not write until it has the answer.
private final class TreeCheck: @unchecked Sendable {
    private let done = DispatchGroup()
    /// Written by the thread before it leaves `done`, read only after `done` is passed.
    private var outcome: Result<ChainProblem?, any Error> = .success(nil)
    private var cpu = 0.0

    init(environment: Environment, log: LogTables) {
        done.enter()
        let thread = Thread {
            let start = Fold.threadCPUSeconds()
            self.outcome = Result { try environment.read { txn in try log.firstTreeDifference(in: txn) } }
            self.cpu = Fold.threadCPUSeconds() - start
            self.done.leave()
        }
        thread.name = "orgledger-rebuild-tree"
        thread.start()
    }

    func firstDifference() throws -> ChainProblem? {
        done.wait()
        return try outcome.get()
    }

    /// The CPU seconds the check took, once `firstDifference` has returned.
    var cpuSeconds: Double { cpu }
}

/// The log folded on several threads, each owning a contiguous range of the streams (in key order,
/// balanced by event count).
///
/// The stream index says which stream each seq belongs to. Every thread scans the whole log in seq
/// order (a cursor walk costs ~0.1 µs an event, a lookup per event several times that) and folds only
/// its own streams' events, each org's state found by its ordinal. The audit entry of an event is
/// written straight into its place in key order (org, then seq): an org's entries start after those
/// of the orgs before it, and come in seq order. When every thread has folded (`waitUntilFolded`), the
/// audit entries are final and may be read while the threads go on to render their orgs' view rows:
/// the org-keyed tables are final once every thread has rendered (`waitUntilRendered`), the others
/// once every thread has sorted them (`waitUntilSorted`).
final class Fold: @unchecked Sendable {
    /// Each thread's audit entries, then its view rows (separate arenas: the first is read while the
    /// second grows). An arena is written by its thread only, and a table of it read only after the
    /// thread has left the dispatch group that makes that table final.
    let audit: [RowArena], views: [RowArena]
    private let environment: Environment
    private let log: LogTables
    private let streams: [(id: String, events: Int)]
    private let ranges: [Range<Int>]
    private let ordinalOfSeq: [UInt32]
    private let progress: ((UInt64) -> Void)?
    private let folded = DispatchGroup(), rendered = DispatchGroup(), sorted = DispatchGroup()
    private let outcomes: Mutex<[Outcome]>

    private struct Outcome {
        var lastSeq: UInt64 = 0
        var error: (any Error)?
        var renderAndSort = 0.0
        var foldCPU = 0.0
    }

    init(environment: Environment, log: LogTables, threads: Int, progress: ((UInt64) -> Void)?) throws {
        // The streams in key order with their sizes, and the stream ordinal of every seq.
        var streams: [(id: String, events: Int)] = []
        var ordinalOfSeq: [UInt32] = []
        try environment.read { txn in
            ordinalOfSeq = Array(repeating: .max, count: Int(try log.head(in: txn).seq) + 1)
            try txn.withCursor(on: log.streams) { cursor in
                var previous: [UInt8] = []
                try cursor.forEach(from: [UInt8]?.none) { entry in
                    let id = UnsafeRawBufferPointer(rebasing: entry.key[..<(entry.key.count - 9)])
                    if !streams.isEmpty, previous.withUnsafeBytes({ RowArena.compare(id, $0) == 0 }) {
                        streams[streams.count - 1].events += 1
                    } else {
                        previous = Array(id)
                        streams.append((String(decoding: id, as: UTF8.self), 1))
                    }
                    let seq = Int(Keys.readBE64(entry.value))
                    guard seq < ordinalOfSeq.count else { throw EnvelopeError("the stream index names seq \(seq), past the log's head") }
                    ordinalOfSeq[seq] = UInt32(streams.count - 1)
                    return true
                }
            }
        }
        let total = streams.reduce(0) { $0 + $1.events }
        var ranges: [Range<Int>] = []
        var lower = 0, accumulated = 0
        for (index, stream) in streams.enumerated() {
            accumulated += stream.events
            if ranges.count < threads - 1, accumulated * threads >= total * (ranges.count + 1) {
                ranges.append(lower..<(index + 1))
                lower = index + 1
            }
        }
        ranges.append(lower..<streams.count)
        self.environment = environment
        self.log = log
        self.streams = streams
        self.ranges = ranges
        self.ordinalOfSeq = ordinalOfSeq
        self.progress = progress
        audit = ranges.map { range in RowArena(capacity: range.reduce(0) { $0 + streams[$1].events } * 80) }
        views = ranges.map { range in RowArena(capacity: range.reduce(0) { $0 + streams[$1].events } * 150) }
        outcomes = Mutex(Array(repeating: Outcome(), count: ranges.count))
    }

    func start() {
        for part in ranges.indices {
            folded.enter()
            rendered.enter()
            sorted.enter()
            // Threads of their own: the caller blocks on the groups, and the dispatch pool may not widen
            // for it in time.
            let thread = Thread { self.run(part) }
            thread.name = "orgledger-rebuild-\(part)"
            thread.start()
        }
    }

    /// The last seq folded, once every thread has folded; the first error of any.
    func waitUntilFolded() throws -> UInt64 {
        folded.wait()
        if let error = outcomes.withLock({ $0.lazy.compactMap(\.error).first }) {
            sorted.wait()
            throw error
        }
        return outcomes.withLock { $0.map(\.lastSeq).max() ?? 0 }
    }

    /// The tables keyed by org (`byOrg` and `orgs`) are final once every thread has rendered; the
    /// others once every thread has sorted.
    static let byOrg: [ProjectionTables.Table] = [.members, .orgInvitations, .orgAPIKeys]
    static let finalWhenRendered: [ProjectionTables.Table] = byOrg + [.orgs]

    func waitUntilRendered() { rendered.wait() }

    func waitUntilSorted() throws {
        sorted.wait()
        if let error = outcomes.withLock({ $0.lazy.compactMap(\.error).first }) { throw error }
    }

    /// The longest time a thread spent rendering and sorting.
    var renderAndSortSeconds: Double { outcomes.withLock { $0.map(\.renderAndSort).max() ?? 0 } }

    var foldCPUSeconds: Double { outcomes.withLock { $0.reduce(0) { $0 + $1.foldCPU } } }

    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private func run(_ part: Int) {
        let range = ranges[part], arena = audit[part]
        var states = [OrgState?](repeating: nil, count: range.count)
        var maxAts = [Timestamp](repeating: StateCache.noTime, count: range.count)
        var snapshots = views[part]
        var outcome = Outcome()
        let cpuAtStart = Self.threadCPUSeconds()
        do {
            // Where each org's audit entries start among this part's.
            var nextSlot: [Int] = []
            var events = 0
            for ordinal in range {
                nextSlot.append(events)
                // Only orgs' events have audit entries.
                if OrgAggregate.owns(stream: streams[ordinal].id) { events += streams[ordinal].events }
            }
            arena.reserveSlots(.audit, count: events)
            var audit = SlottedAudit(arena: arena)
            var folded = 0
            let (ordinals, parts, progress) = (ordinalOfSeq, ranges.count, part == 0 ? self.progress : nil)
            try environment.read { txn in
                try log.forEachEventBytes(after: 0, in: txn) { seq, bytes in
                    guard seq < ordinals.count else { throw EnvelopeError("seq \(seq) is past the log's head") }
                    let ordinal = Int(ordinals[Int(seq)])
                    guard range.contains(ordinal) else {
                        if ordinal == Int(UInt32.max) { throw EnvelopeError("seq \(seq) is in no stream of the stream index") }
                        return true
                    }
                    let (view, data) = try EnvelopeView.readWithData(bytes)
                    outcome.lastSeq = seq
                    guard OrgAggregate.owns(stream: view.stream) else { return true }  // no org views
                    let event = try OrgAggregate.decode(type: view.type, data: data)
                    let local = ordinal - range.lowerBound
                    audit.slot = nextSlot[local]
                    nextSlot[local] += 1
                    Folder.addAuditEntry(of: event, view, seq: seq, to: &audit)
                    OrgAggregate.apply(&states[local], event, recordedAs: view)
                    if view.version == 1 { states[local]?.reserveCapacity(forEvents: streams[ordinal].events) }
                    maxAts[local] = max(maxAts[local], view.at)
                    SnapshotRow.addIfDue(states[local], seq: seq, maxAt: maxAts[local], to: &snapshots)
                    outcome.lastSeq = seq
                    folded += 1
                    if folded & 0x3FFF == 0 { progress?(UInt64(folded * parts)) }
                    return true
                }
            }
        } catch {
            outcome.error = error
        }
        outcome.foldCPU = Self.threadCPUSeconds() - cpuAtStart
        outcomes.withLock { $0[part] = outcome }
        folded.leave()
        guard outcome.error == nil else {
            rendered.leave()
            sorted.leave()
            return
        }
        // The audit entries are final (and being written); now the views' rows, sorted.
        var clock = Stopwatch()
        // Orgs in key order (their ordinals), each org's rows of the tables keyed by org sorted as
        // rendered (a few hundred rows, in cache); the other tables are sorted whole.
        var sink = views[part]
        for state in states {
            let starts = Self.byOrg.map(sink.count(of:))
            RowSet.allRows(of: state, into: &sink)
            // Every key of these tables starts with the org's id and a 0.
            let prefix = (state?.id.utf8.count ?? 0) + 1
            for (table, start) in zip(Self.byOrg, starts) { sink.sort(table, from: start, sharedPrefix: prefix) }
        }
        rendered.leave()  // the org-keyed tables may be written from here on
        states = []
        sink.sort(except: Set(Self.finalWhenRendered))
        let seconds = clock.lap()
        outcomes.withLock { $0[part].renderAndSort = seconds }
        sorted.leave()
    }
}
