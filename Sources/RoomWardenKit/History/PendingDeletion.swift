/// What `history --delete` would remove, read but not removed yet: held
/// while the user confirms, then removed exactly (`HistoryReader.remove`),
/// so the entries counted in the question are the ones removed, whatever
/// arrived meanwhile.
public final class PendingDeletion {
    struct Entry {
        let room: ArchivedRoom
        let member: [UInt8]
        let score: Double?
        let unit: ScoreUnit
        let listCount: Int?
    }

    private(set) var entries: [Entry] = []
    private var bytes = 0
    private var channels = Set<[UInt8]>()

    /// The most entries, and member bytes, held for a confirmation.
    static let maxEntries = 100_000
    static let maxBytes = 64 << 20

    /// Entries it would remove.
    public var count: Int { entries.count }
    /// Rooms they are in.
    public var roomCount: Int { channels.count }

    func add(_ entry: Entry) throws(RoomWardenError) {
        bytes += entry.member.count
        guard entries.count < PendingDeletion.maxEntries, bytes <= PendingDeletion.maxBytes else {
            throw .usage("--delete would remove more than \(PendingDeletion.maxEntries) entries (or \(PendingDeletion.maxBytes >> 20) MB), "
                         + "too many to hold while asking; check them by running the same command without --delete, "
                         + "then add --yes to remove them without asking; nothing was removed")
        }
        entries.append(entry)
        channels.insert(entry.room.channel)
    }
}
