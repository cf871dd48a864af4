#if canImport(Glibc)
import Glibc
#endif

/// Every room of a stats report in a compact form: the names back to back
/// in one byte buffer, each figure in a column of integers. A hundred
/// thousand rooms take about 10 MB here, where as many `RoomStats` values
/// (each name and each window list an array of its own) took three times
/// that. A row is read as a `RoomStats` when it is printed.
public struct RoomTable: Sendable {
    /// How many activity windows each row counts.
    public let windowCount: Int
    /// The names, back to back; row `i` is `names[nameEnds[i - 1] ..< nameEnds[i]]`.
    private var names: [UInt8] = []
    private var nameEnds: [Int] = []
    /// The figures; `unknown` where a figure is unknown or does not apply.
    private var subscribers: [Int] = []
    private var archived: [Int] = []
    private var windowCounts: [Int] = []  // windowCount per row
    private var lastTs: [Int64] = []
    private var sampled: [Int] = []
    /// The rare notes (`list`, an error reading the key), by row.
    private var notes: [Int: String] = [:]
    /// Which node holds each row's archive, and its list backlog (-1: none).
    private var archiveNodes: [Int32] = []
    private var backlogNodes: [Int32] = []
    /// Open addressing over the rows by name: row + 1, 0 for empty.
    private var slots: [Int32] = []

    /// What a column holds where the figure is nil.
    private static let unknown = Int.min

    public init(windowCount: Int) {
        self.windowCount = windowCount
    }

    /// The rows of `rooms`, in that order.
    public init(_ rooms: [RoomStats], windowCount: Int) {
        self.init(windowCount: windowCount)
        for room in rooms {
            let i = room.channel.withUnsafeBytes { self.row(named: $0) }
            self[i] = room
        }
    }

    public var count: Int { nameEnds.count }

    /// The row of the room named `name`, added (every figure unknown) if
    /// there is none yet.
    @discardableResult
    public mutating func row(named name: UnsafeRawBufferPointer) -> Int {
        if slots.count < 2 * (count + 1) { grow() }
        let (slot, found) = probe(name)
        if let found { return found }
        names.append(contentsOf: name)
        nameEnds.append(names.count)
        subscribers.append(RoomTable.unknown)
        archived.append(RoomTable.unknown)
        windowCounts.append(contentsOf: repeatElement(RoomTable.unknown, count: windowCount))
        lastTs.append(Int64.min)
        sampled.append(RoomTable.unknown)
        archiveNodes.append(-1)
        backlogNodes.append(-1)
        slots[slot] = Int32(count)
        return count - 1
    }

    /// Where `name` is in the slots, or the empty slot where it would go.
    private func probe(_ name: UnsafeRawBufferPointer) -> (slot: Int, row: Int?) {
        let mask = slots.count - 1
        var s = RoomTable.hash(name) & mask
        while slots[s] != 0 {
            let i = Int(slots[s]) - 1
            if nameEquals(i, name) { return (s, i) }
            s = (s + 1) & mask
        }
        return (s, nil)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: max(1024, slots.count * 2))
        let mask = slots.count - 1
        for i in 0..<count {
            var s = withName(i) { RoomTable.hash($0) } & mask
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = Int32(i + 1)
        }
    }

    /// FNV-1a.
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    private func nameRange(_ i: Int) -> Range<Int> { (i == 0 ? 0 : nameEnds[i - 1])..<nameEnds[i] }

    private func nameEquals(_ i: Int, _ name: UnsafeRawBufferPointer) -> Bool {
        let r = nameRange(i)
        guard r.count == name.count else { return false }
        return names.withUnsafeBytes { all in
            r.count == 0 || memcmp(all.baseAddress! + r.lowerBound, name.baseAddress!, r.count) == 0
        }
    }

    /// Calls `body` with row `i`'s name, valid during the call.
    public func withName<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let r = nameRange(i)
        return names.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    public func name(_ i: Int) -> [UInt8] { Array(names[nameRange(i)]) }

    /// Orders rows by name, byte by byte.
    func nameLess(_ a: Int, _ b: Int) -> Bool {
        let ra = nameRange(a), rb = nameRange(b)
        return names.withUnsafeBytes { all in
            let n = min(ra.count, rb.count)
            let c = n == 0 ? 0 : memcmp(all.baseAddress! + ra.lowerBound, all.baseAddress! + rb.lowerBound, n)
            return c != 0 ? c < 0 : ra.count < rb.count
        }
    }

    // MARK: Figures

    private static func value(_ v: Int) -> Int? { v == unknown ? nil : v }

    public func subscribers(_ i: Int) -> Int? { RoomTable.value(subscribers[i]) }
    public func archived(_ i: Int) -> Int? { RoomTable.value(archived[i]) }
    public func lastTs(_ i: Int) -> Int64? { lastTs[i] == .min ? nil : lastTs[i] }
    public func sampled(_ i: Int) -> Int? { RoomTable.value(sampled[i]) }
    public func note(_ i: Int) -> String? { notes[i] }
    public func windowCount(_ i: Int, _ w: Int) -> Int? { RoomTable.value(windowCounts[i * windowCount + w]) }

    mutating func setSubscribers(_ i: Int, _ n: Int?) { subscribers[i] = n ?? RoomTable.unknown }
    mutating func addSubscribers(_ i: Int, _ n: Int) {
        subscribers[i] = subscribers[i] == RoomTable.unknown ? n : subscribers[i] + n
    }
    mutating func setArchived(_ i: Int, _ n: Int?) { archived[i] = n ?? RoomTable.unknown }
    mutating func setLastTs(_ i: Int, _ t: Int64?) { lastTs[i] = t ?? .min }
    mutating func setSampled(_ i: Int, _ n: Int?) { sampled[i] = n ?? RoomTable.unknown }
    mutating func setNote(_ i: Int, _ note: String?) { notes[i] = note }
    mutating func setWindowCount(_ i: Int, _ w: Int, _ n: Int?) { windowCounts[i * windowCount + w] = n ?? RoomTable.unknown }

    /// The node holding row `i`'s archive (or list backlog), if any.
    func archiveNode(_ i: Int) -> Int? { archiveNodes[i] < 0 ? nil : Int(archiveNodes[i]) }
    func backlogNode(_ i: Int) -> Int? { backlogNodes[i] < 0 ? nil : Int(backlogNodes[i]) }
    mutating func setArchiveNode(_ i: Int, _ node: Int?) { archiveNodes[i] = Int32(node ?? -1) }
    mutating func setBacklogNode(_ i: Int, _ node: Int?) { backlogNodes[i] = Int32(node ?? -1) }

    /// Row `i` as a value (for printing one row at a time).
    public subscript(_ i: Int) -> RoomStats {
        get {
            RoomStats(channel: name(i), subscribers: subscribers(i), archived: archived(i),
                      windowCounts: (0..<windowCount).map { windowCount(i, $0) }, lastTs: lastTs(i),
                      sampled: sampled(i), note: note(i))
        }
        set {
            setSubscribers(i, newValue.subscribers)
            setArchived(i, newValue.archived)
            for w in 0..<windowCount { setWindowCount(i, w, w < newValue.windowCounts.count ? newValue.windowCounts[w] : nil) }
            setLastTs(i, newValue.lastTs)
            setSampled(i, newValue.sampled)
            setNote(i, newValue.note)
        }
    }
}
