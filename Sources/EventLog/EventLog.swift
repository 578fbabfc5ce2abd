import LedgerCore

/// The append-only, hash-chained event log (product spec §4).
///
/// One global sequence (`seq`, gap-free from 1) over many streams (one per org), each with its own
/// gap-free `version` from 1. An append adds one or more events to one stream, atomically, only if the
/// stream is at the version the caller expects. Nothing ever updates or deletes an event.
///
/// Three implementations keep this contract and are tested by one suite: `LMDBEventLog` (durable, the
/// embedded default), `PostgresEventLog` (durable, on a PostgreSQL server; module `LedgerPostgres`) and
/// `InMemoryEventLog` (fast tests). Reads are synchronous (PostgreSQL's wait for the server): the
/// contract is for offline work and tests; the service reads through the `Ledger` seam, which is async.
/// (Not `async` here: swiftc 6.3.1 miscompiles an async call through an existential that returns a
/// struct such as `LogHead` — a double free, as README's notes for contributors describe.)
public protocol EventLog: Sendable {
    /// Appends `request.events` to `request.stream`: all of them or none. Returns when the events are
    /// durable. Throws `AppendError` for a conflict or invalid input (nothing is written).
    func append(_ request: AppendRequest) async throws -> AppendReceipt

    /// Up to `limit` events with `seq > after`, in order.
    func events(after seq: UInt64, limit: Int) throws -> [RecordedEvent]

    /// Up to `limit` events of one stream with `version >= fromVersion`, in order.
    func events(inStream stream: String, fromVersion: UInt64, limit: Int) throws -> [RecordedEvent]

    /// The stream's current version: 0 when it has no events.
    func version(ofStream stream: String) throws -> UInt64

    /// The last event's seq and hash (`LogHead.empty` for an empty log).
    func head() throws -> LogHead

    /// Re-checks every event: seq gap-free from 1, each stored hash equal to the SHA-256 of the stored
    /// bytes, each `prev_hash` equal to the previous hash, stream versions gap-free.
    func verifyChain(progress: ((UInt64) -> Void)?) throws -> ChainReport
}

/// Which version a stream must be at for an append to go ahead.
public enum ExpectedVersion: Sendable, Hashable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must be at exactly this version; 0 means it must not exist yet.
    case exactly(UInt64)

    public static let noStream = ExpectedVersion.exactly(0)

    public var description: String {
        switch self {
        case .any: "any"
        case .exactly(let v): "\(v)"
        }
    }
}

public struct AppendRequest: Sendable, Hashable {
    public var stream: String
    public var expectedVersion: ExpectedVersion
    public var events: [NewEvent]

    public init(stream: String, expectedVersion: ExpectedVersion, events: [NewEvent]) {
        self.stream = stream
        self.expectedVersion = expectedVersion
        self.events = events
    }

    /// Stream ids are also LMDB key prefixes: at most this many UTF-8 bytes.
    public static let maximumStreamLength = 200
    /// The most events one append may carry.
    public static let maximumEvents = 10_000

    /// Why the request can't be appended, or nil.
    public var problem: String? {
        if stream.isEmpty { return "the stream id is empty" }
        if stream.utf8.count > Self.maximumStreamLength { return "the stream id is longer than \(Self.maximumStreamLength) bytes" }
        if stream.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "the stream id contains a control character"
        }
        if events.isEmpty { return "an append needs at least one event" }
        if events.count > Self.maximumEvents { return "an append carries at most \(Self.maximumEvents) events" }
        for event in events {
            if event.type.isEmpty { return "an event type is empty" }
            if event.actor.isEmpty { return "an event actor is empty" }
            if event.schemaVersion < 1 { return "schema_version starts at 1" }
            guard case .object = event.data else { return "event data must be a JSON object" }
        }
        return nil
    }
}

/// An append refused: nothing was written.
public enum AppendError: Error, Hashable, CustomStringConvertible {
    /// The stream was not at the expected version.
    case conflict(stream: String, expected: ExpectedVersion, actual: UInt64)
    /// The request itself is malformed.
    case invalid(String)

    public var description: String {
        switch self {
        case .conflict(let stream, let expected, let actual):
            "stream \(stream) is at version \(actual), not the expected \(expected)"
        case .invalid(let why): "invalid append: \(why)"
        }
    }
}

/// An event as stored: its envelope, its hash and the exact canonical bytes that were hashed.
public struct RecordedEvent: Sendable, Hashable {
    public let envelope: EventEnvelope
    public let hash: ChainHash
    public let canonicalBytes: [UInt8]

    public init(envelope: EventEnvelope, hash: ChainHash, canonicalBytes: [UInt8]) {
        self.envelope = envelope
        self.hash = hash
        self.canonicalBytes = canonicalBytes
    }

    public var seq: UInt64 { envelope.seq }
    public var version: UInt64 { envelope.version }

    /// The envelope with its `hash`, canonical: one NDJSON line of an export (without the newline).
    public func exportLine() -> [UInt8] {
        // The stored bytes were produced by the same encoder, so re-encoding cannot fail.
        (try? envelope.exportBytes(hash: hash)) ?? []
    }
}

/// What a successful append wrote.
public struct AppendReceipt: Sendable, Hashable {
    public let events: [RecordedEvent]

    /// What an append of `events` (at least one) wrote.
    public init(events: [RecordedEvent]) {
        precondition(!events.isEmpty, "an append writes at least one event")
        self.events = events
    }

    public var firstSeq: UInt64 { events.first!.seq }
    public var lastSeq: UInt64 { events.last!.seq }
    /// The stream's version after the append.
    public var streamVersion: UInt64 { events.last!.version }
}

/// The end of the log.
public struct LogHead: Sendable, Hashable, CustomStringConvertible {
    public let seq: UInt64
    public let hash: ChainHash

    public init(seq: UInt64, hash: ChainHash) {
        self.seq = seq
        self.hash = hash
    }

    public static let empty = LogHead(seq: 0, hash: .genesis)

    public var description: String { "seq \(seq), hash \(hash.hex)" }
}

/// Seals a request into recorded events on top of `head`: assigns seq, version and prev_hash, encodes and
/// hashes. Pure; shared by every log implementation so the chain is built one way only.
public func seal(_ request: AppendRequest, streamVersion: UInt64, head: LogHead) -> Result<[RecordedEvent], AppendError> {
    if let problem = request.problem { return .failure(.invalid(problem)) }
    if case .exactly(let expected) = request.expectedVersion, expected != streamVersion {
        return .failure(.conflict(stream: request.stream, expected: request.expectedVersion, actual: streamVersion))
    }
    var recorded: [RecordedEvent] = []
    recorded.reserveCapacity(request.events.count)
    var seq = head.seq
    var prevHash = head.hash
    var version = streamVersion
    for event in request.events {
        seq += 1
        version += 1
        let envelope = EventEnvelope(seq: seq, stream: request.stream, version: version, event: event, prevHash: prevHash)
        let bytes: [UInt8]
        do { bytes = try envelope.canonicalBytes() } catch { return .failure(.invalid(error.message)) }
        let hash = ChainHash.of(bytes)
        recorded.append(RecordedEvent(envelope: envelope, hash: hash, canonicalBytes: bytes))
        prevHash = hash
    }
    return .success(recorded)
}
