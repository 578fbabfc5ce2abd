import LedgerCore

/// Ledger-wide facts, on the stream `ledger` (product spec §4), appended by the service (actor `system`).
public enum LedgerEvent: Sendable, Hashable {
    /// A retention run erased `count` request-context values (`client_ip`, `user_agent`) of events with
    /// `seq < beforeSeq` from the personal-data store; their commitments stay in the log (§8).
    case requestContextErased(beforeSeq: UInt64, count: Int)

    /// The stream these events are on.
    public static let stream = "ledger"
    public static let allTypes = ["ledger.request_context_erased"]

    public var type: String {
        switch self {
        case .requestContextErased: "ledger.request_context_erased"
        }
    }

    public var data: JSONValue {
        switch self {
        case .requestContextErased(let beforeSeq, let count): ["before_seq": .int(Int64(beforeSeq)), "count": .int(Int64(count))]
        }
    }

    public init(type: String, data: JSONValue) throws(EventDecodingError) {
        let r = DataReader(type: type, data: data)
        switch type {
        case "ledger.request_context_erased":
            let beforeSeq = try r.int("before_seq"), count = try r.int("count")
            guard beforeSeq >= 1, count >= 1 else { throw r.error("before_seq and count are at least 1") }
            self = .requestContextErased(beforeSeq: UInt64(beforeSeq), count: count)
        default:
            throw EventDecodingError(type: type, message: "unknown event type")
        }
    }

    public func newEvent(at: Timestamp) -> NewEvent {
        NewEvent(type: type, at: at, actor: Actor.system.description, data: data)
    }
}
