import LedgerCore
import OrgDomain

/// A kind of stream and how its events fold into its state: the one thing the writer's cache, rebuild,
/// verify, import and time travel know about a stream. Orgs are the first kind (`OrgAggregate`); the
/// user streams of spec §7 are another conformance, not edits to each of those.
public protocol Aggregate {
    associatedtype State: Sendable
    associatedtype Event: Sendable

    /// Reads an event's `data` (as the envelope reader hands it over) into the domain event.
    static func decode(type: String, data: [(String, JSONValue)]) throws -> Event

    /// Folds one event into the state (nil before the stream's first event).
    static func apply(_ state: inout State?, _ event: Event, _ context: EventContext)
}

extension Aggregate {
    /// The one envelope reader of every replay: a stored event (its canonical bytes, without the hash)
    /// read into its envelope fields and its domain event.
    public static func read(stored bytes: UnsafeRawBufferPointer) throws -> (view: EnvelopeView, event: Event) {
        let (view, data) = try EnvelopeView.readWithData(bytes)
        return (view, try decode(type: view.type, data: data))
    }

    /// Folds an event read from the log into the state, with the context its envelope records.
    public static func apply(_ state: inout State?, _ event: Event, recordedAs view: EnvelopeView) {
        apply(&state, event, EventContext(at: view.at, actor: Actor(recorded: view.actor), version: view.version))
    }

    /// The one fold step of every replay: `read`, then `apply`. Returns the envelope's fields.
    @discardableResult
    public static func fold(_ state: inout State?, stored bytes: UnsafeRawBufferPointer) throws -> EnvelopeView {
        let (view, event) = try read(stored: bytes)
        apply(&state, event, recordedAs: view)
        return view
    }
}

/// Organizations: `OrgState` folded from `OrgEvent`s by the domain's `apply`.
public enum OrgAggregate: Aggregate {
    /// Whether a stream is an org's (`org_…`): the log also holds users' streams (product spec §7).
    public static func owns(stream: String) -> Bool { stream.utf8.starts(with: "org_".utf8) }

    public static func decode(type: String, data: [(String, JSONValue)]) throws -> OrgEvent {
        try OrgEvent(type: type, members: data)
    }

    public static func apply(_ state: inout OrgState?, _ event: OrgEvent, _ context: EventContext) {
        OrgDomain.apply(&state, event, context)
    }
}
