/// When an org's state is kept as a snapshot (a view, like the others: written with the events,
/// re-derived by rebuild, checked by verify), so that time travel and a cold cache fold at most a
/// bounded run of events instead of the whole stream.
///
/// After every `interval` events (64: as_of on a 10,000-event org then folds at most 64 events; see
/// docs/benchmarks.md). A large state costs more to write, so its spacing doubles with its size: past
/// 1,024 table entries (members, invitations, keys, held handles) the spacing is `interval` times the
/// power of two at or above entries / 1,024. Writing snapshots then costs about one entry per event
/// whatever the org's size, and folding past a snapshot costs no more than reading it. Decided from the
/// version and the state alone, so the writer, rebuild and verify keep the very same snapshots.
public enum Snapshots {
    public static let interval: UInt64 = 64

    public static func isDue(atVersion version: UInt64, entries: Int) -> Bool {
        let scale = UInt64(max(1, (entries + 1023) / 1024))
        let spacing = interval * (scale <= 1 ? 1 : UInt64(1) << (64 - (scale - 1).leadingZeroBitCount))
        return version % spacing == 0
    }
}
