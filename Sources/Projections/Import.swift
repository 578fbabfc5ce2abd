import EventLog
import Foundation
import LMDB
import LedgerCore
import OrgDomain

/// Loads an export (NDJSON envelopes with `hash`) into a new data folder, checking the chain as it goes.
///
/// Every line must hash to its `hash` (re-encoded canonically without it), follow the previous line's
/// hash, and carry the next seq and its stream's next version; and it must be an event the service
/// could have written (`RecordedEventRules`, `EventMeta.problem`, the envelope's schema version). With
/// `expectedHead`, the last hash must be that one. The first bad line stops the import and the folder is
/// left without data: the files this import created are removed.
public enum Importer {
    public struct ImportError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Imports `lines` into the folder `path`, which must not hold a log yet. Returns the head.
    /// An event is at most 64 KiB (product spec §4); its export line adds the hash and little else.
    public static let maximumLineBytes = 72 * 1024

    public static func load(
        _ lines: some Sequence<[UInt8]>, into path: String, expectedHead: ChainHash? = nil, progress: ((UInt64) -> Void)? = nil
    ) throws -> LogHead {
        let dataFile = path + "/data.mdb"
        guard !FileManager.default.fileExists(atPath: dataFile) else {
            throw ImportError(line: 0, message: "\(path) already holds a log; import only into a new folder")
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        do {
            let head = try loadChecked(lines, into: path, progress: progress)
            guard head.seq > 0 else { throw ImportError(line: 0, message: "the export holds no events") }
            if let expectedHead, head.hash != expectedHead {
                throw ImportError(line: 0, message: "the export ends at seq \(head.seq) with hash \(head.hash.hex), not the expected \(expectedHead.hex)")
            }
            return head
        } catch {
            try? FileManager.default.removeItem(atPath: dataFile)
            try? FileManager.default.removeItem(atPath: path + "/lock.mdb")
            throw error
        }
    }

    private static func loadChecked(_ lines: some Sequence<[UInt8]>, into path: String, progress: ((UInt64) -> Void)?) throws -> LogHead {
        let environment = try Environment(path: path)
        let log = try LogTables(environment: environment)
        var verifier = ChainVerifier()
        var model = ImportModel()
        var batch: [RecordedEvent] = []
        var lineNumber = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            let events = batch
            try environment.write { txn in
                for event in events { try log.write(event, in: txn) }
            }
            batch.removeAll(keepingCapacity: true)
        }
        for line in lines {
            lineNumber += 1
            if line.isEmpty || line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
            guard line.count <= maximumLineBytes else {
                throw ImportError(line: lineNumber, message: "the line is longer than \(maximumLineBytes) bytes (an event is at most 64 KiB)")
            }
            let decoded: (envelope: EventEnvelope, hash: ChainHash?)
            do { decoded = try EventEnvelope.decode(line) } catch {
                throw ImportError(line: lineNumber, message: "not an envelope: \(error)")
            }
            guard let hash = decoded.hash else { throw ImportError(line: lineNumber, message: "the envelope has no hash") }
            let bytes = try decoded.envelope.canonicalBytes()
            if let problem = bytes.withUnsafeBytes({ verifier.check(keySeq: decoded.envelope.seq, storedHash: hash, bytes: $0) }) {
                throw ImportError(line: lineNumber, message: "chain broken at seq \(problem.seq): \(problem.reason)")
            }
            if let problem = model.admit(decoded.envelope) {
                throw ImportError(line: lineNumber, message: "seq \(decoded.envelope.seq): \(problem)")
            }
            batch.append(RecordedEvent(envelope: decoded.envelope, hash: hash, canonicalBytes: bytes))
            if batch.count == 10_000 {
                try flush()
                progress?(decoded.envelope.seq)
            }
        }
        try flush()
        let tables = try ProjectionTables(environment: environment, log: log)
        try Replay.rebuild(environment: environment, tables: tables)
        return verifier.head
    }
}

/// The orgs of an import as their events make them, to check each event against the state before it
/// (`RecordedEventRules`) and keep the handle directory across orgs.
struct ImportModel {
    private var states: [String: OrgState] = [:]
    private var claims: [Handle: HandleClaim] = [:]

    /// Why the envelope is not one the service could have written, or nil (and it is applied).
    mutating func admit(_ envelope: EventEnvelope) -> String? {
        guard envelope.schemaVersion == OrgEvent.schemaVersion else {
            return "schema_version \(envelope.schemaVersion) is not \(OrgEvent.schemaVersion)"
        }
        if let problem = envelope.meta.problem { return problem }
        let state = states[envelope.stream]
        let claims = self.claims
        if let problem = RecordedEventRules.problem(
            type: envelope.type, data: envelope.data, actor: envelope.actor, stream: envelope.stream, version: envelope.version,
            state: state, handleHolder: { claims[$0] }, at: envelope.at)
        {
            return problem
        }
        guard let event = try? OrgEvent(type: envelope.type, data: envelope.data) else { return "undecodable \(envelope.type)" }
        var next = state
        apply(&next, event, EventContext(at: envelope.at, actor: Actor(recorded: envelope.actor), version: envelope.version))
        updateClaims(before: state, after: next)
        states[envelope.stream] = next
        return nil
    }

    /// The handles an org holds (its current one, and former ones within their hold) as the directory has them.
    private mutating func updateClaims(before: OrgState?, after: OrgState?) {
        if let before {
            for handle in [before.handle] + Array(before.heldHandles.keys) where claims[handle]?.orgID == before.id { claims[handle] = nil }
        }
        guard let after, after.status != .purged else { return }
        claims[after.handle] = HandleClaim(orgID: after.id, heldUntil: nil)
        for (handle, until) in after.heldHandles { claims[handle] = HandleClaim(orgID: after.id, heldUntil: until) }
    }
}
