import LedgerCore

/// State as of an earlier point, by folding the org's own stream — never the whole log.
public enum TimeTravel {
    public enum Point: Sendable, Hashable {
        /// After the event with this global seq (events of the org up to it).
        case seq(UInt64)
        /// After the last event of the org at or before this time.
        case time(Timestamp)

        /// `as_of` as the API takes it: a seq (digits) or an RFC 3339 time.
        public init?(_ text: String) {
            if let seq = UInt64(text) {
                self = .seq(seq)
            } else if let time = Timestamp(rfc3339: text) {
                self = .time(time)
            } else {
                return nil
            }
        }

        /// Whether the event with this seq and time is part of the state at this point.
        public func includes(seq: UInt64, at: Timestamp) -> Bool {
            switch self {
            case .seq(let limit): seq <= limit
            case .time(let time): at <= time
            }
        }
    }
}
