/// When an org's state is kept as a snapshot (a view, like the others: written with the events,
/// re-derived by rebuild, checked by verify), so that time travel and a cold cache fold a bounded run
/// of events instead of the whole stream.
///
/// The spacing is 64 events for a small state (as_of on a 10,000-event org then folds at most 64
/// events) and grows with the state: 64 times the power of two at or above entries / 16, where entries
/// are the state's members, invitations, keys and held handles. Measured (docs/benchmarks.md): encoding
/// costs about 0.9 µs an entry and folding about 2.3 µs an event, so a snapshot every 4 × entries
/// events or more keeps what snapshots add to the write path and to rebuild near a tenth of the fold,
/// while `as_of` folds fewer than 8 × entries events past one (64 while entries ≤ 16). Decided from the
/// version and the state alone, so the writer, rebuild and verify keep the very same snapshots.
public enum Snapshots {
    public static let interval: UInt64 = 64

    public static func isDue(atVersion version: UInt64, entries: Int) -> Bool {
        let scale = UInt64(max(1, (entries + 15) / 16))
        let spacing = interval * (scale <= 1 ? 1 : UInt64(1) << (64 - (scale - 1).leadingZeroBitCount))
        return version % spacing == 0
    }
}
