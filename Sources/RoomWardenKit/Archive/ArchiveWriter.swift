#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// `watch --archive`: writes every printed message to its room's archive,
/// on a thread and connections of its own (`ArchiveLinks`: one server,
/// the sentinels' master, or each key's primary on a Redis Cluster), so a
/// slow or frozen archive link never holds up printing.
///
/// - A batch that fails (the link lost, no reply within the timeout) is
///   sent again once reconnected. Each entry keeps its id across tries,
///   so what the server had already applied is not applied twice.
/// - An entry the archive already holds is not added: a message whose
///   publisher archived it (`roomwarden publish`) is skipped (see
///   `RecentArchive`).
/// - A room kept the seed recipe's way (a list backlog at the backlog key
///   and no sorted-set archive) gets the payloads themselves pushed the
///   recipe's way, and what its publisher pushed already is not pushed
///   again (see `BacklogPushes`). Each room's kind is looked up once.
/// - What is given up (refused by the server, more than the backlog holds
///   while the link is down, or still unwritten when the watch ends) is
///   reported on stderr with its count, every time: at once, then at most
///   once a second per cause, and the rest when the watch ends.
///
/// `@unchecked Sendable`: the stored properties marked shared are read
/// and written only with `condition` locked; the others belong to one
/// thread, as their comments say.
final class ArchiveWriter: @unchecked Sendable {
    private let settings: ConnectionSettings
    private let template: ArchiveKeyTemplate
    private let backlog: BacklogKeyTemplate?
    private let capacity: Int

    // The printing thread's own.
    private var staging = Records()

    // Shared, under `condition`.
    private let condition = Condition()
    private var incoming = Records()
    private var inFlight = 0
    private var finishing = false
    private var abandoned = false
    private var running = false
    private var unreported: [String: Int] = [:]
    private var reportedAt: Int64?

    /// Messages waiting to be archived, packed.
    private struct Records {
        var messages = MessageBatch()
        var stamps: [Int64] = []
        var count: Int { stamps.count }
        var footprint: Int { messages.footprint + stamps.count * 8 }
    }

    /// `capacity`: the most bytes of messages held while the link is
    /// down. A write waits for its reply up to the settings' `--timeout`,
    /// then counts the link as lost. `backlog`: where the recipe's list
    /// backlogs are (nil: every room gets a sorted set).
    init(settings: ConnectionSettings, template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?, capacity: Int) {
        self.settings = settings
        self.template = template
        self.backlog = backlog
        self.capacity = capacity
    }

    // MARK: The printing thread

    /// Adds one printed message (printing thread).
    func add(channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, ts: Int64) {
        staging.messages.append(pattern: nil, channel: channel, payload: payload)
        staging.stamps.append(ts)
    }

    /// Hands what was added to the writing thread; never waits for the
    /// server (printing thread).
    func commit() {
        guard staging.count > 0 else { return }
        let records = staging
        staging = Records()
        condition.lock()
        defer { condition.unlock() }
        if incoming.footprint + records.footprint > capacity && incoming.count > 0 {
            giveUp(records.count, "the archive link is down or too slow (more than \(capacity >> 20)MB of messages waiting)")
            return
        }
        if incoming.count == 0 {
            incoming = records
        } else {
            records.messages.forEach { _, channel, payload in
                incoming.messages.append(pattern: nil, channel: channel, payload: payload)
                return true
            }
            incoming.stamps += records.stamps
        }
        if !running {
            running = true
            Threads.start(stackSize: 1 << 20) { [self] in
                ThreadName.set("rw-archive")
                writeUntilEnd()
            }
        }
        condition.signal()
    }

    /// Waits up to `milliseconds` for everything to be written, then
    /// reports what was not (printing thread, once, at the end).
    func finish(waitingUpTo milliseconds: Int64) {
        commit()
        condition.lock()
        finishing = true
        condition.broadcast()
        let deadline = Monotonic.milliseconds() &+ max(0, milliseconds)
        while running && (incoming.count > 0 || inFlight > 0) {
            let left = deadline - Monotonic.milliseconds()
            if left <= 0 { break }
            condition.wait(milliseconds: min(left, 1000))
        }
        abandoned = true
        condition.broadcast()
        let left = incoming.count + inFlight
        incoming = Records()
        inFlight = 0
        if left > 0 { giveUp(left, "the watch ended before the archive link took them (see --timeout)", now: true) }
        flushReports(force: true)
        // The writing thread returns at once unless a frozen link holds it.
        let stopping = Monotonic.milliseconds() + 100
        while running && Monotonic.milliseconds() < stopping { condition.wait(milliseconds: 10) }
        condition.unlock()
    }

    // MARK: The writing thread

    /// Takes what is waiting and writes it, until the watch ends.
    private func writeUntilEnd() {
        defer {
            condition.lock()
            running = false
            condition.broadcast()
            condition.unlock()
        }
        let links = ArchiveLinks(settings: settings)
        var recent = RecentArchive()
        var ids = MessageIDs()
        var kinds = RoomKinds()
        var pushes = BacklogPushes()
        var outage: Int64?
        while true {
            condition.lock()
            while incoming.count == 0 && !finishing && !abandoned {
                condition.wait(milliseconds: 1000)
                flushReports(force: false)
            }
            if abandoned || incoming.count == 0 {
                condition.unlock()
                return
            }
            let records = incoming
            incoming = Records()
            inFlight = records.count
            condition.unlock()

            var batch: Batch?
            var attempt = 0
            while true {
                if isAbandoned { return }
                do {
                    try links.open()
                    if batch == nil { batch = try prepare(records, on: links, kinds: &kinds, recent: &recent, ids: &ids) }
                    if let b = batch { try send(b, on: links, recent: &recent, pushes: &pushes) }
                    if let since = outage {
                        printDiagnostic("--archive: the archive link to \(links.description) is back after \(Watcher.seconds(Monotonic.milliseconds() - since)); what waited is archived")
                        outage = nil
                    }
                    break
                } catch let error as RoomWardenError where error.exitCode == 77 || error.exitCode == 64 {
                    condition.lock()
                    giveUp(records.count, error.message)
                    condition.unlock()
                    break
                } catch {
                    let lost = links.failed.map { "\($0)" } ?? links.description
                    links.lost()
                    if outage == nil {
                        outage = Monotonic.milliseconds()
                        printDiagnostic("--archive: lost the archive link to \(lost): \(error); \(records.count) messages waiting, retrying")
                    }
                    let delay = min(5000, 100 * pow(2, Double(min(attempt, 16)))) * Double.random(in: 0.5...1.0)
                    attempt += 1
                    condition.lock()
                    condition.wait(milliseconds: Int64(delay))
                    condition.unlock()
                }
            }
            condition.lock()
            inFlight = 0
            condition.broadcast()
            condition.unlock()
        }
    }

    private var isAbandoned: Bool {
        condition.lock()
        defer { condition.unlock() }
        return abandoned
    }


    /// The ZADDs of one batch, built once so that a retry sends the very
    /// same entries; and the payloads for list backlogs, by room in order
    /// (looked at again on each try).
    private struct Batch {
        var written: [(key: [UInt8], member: [UInt8], score: Int64)] = []
        var backlogs: [BacklogPushes.Pushes] = []
    }

    /// Where each room's messages go: its sorted-set archive, or the
    /// recipe's list backlog where that exists and the archive does not
    /// (the rule of `publish`), looked up once per room (writing thread).
    private struct RoomKinds {
        var backlogKeys: [[UInt8]: [UInt8]?] = [:]

        /// Looks up the rooms not seen yet: two TYPEs each, one round trip
        /// (to each node holding some of the keys).
        mutating func learn(_ channels: [[UInt8]], template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?, on links: ArchiveLinks) throws {
            let unknown = channels.filter { backlogKeys[$0] == nil }
            guard let backlog, !unknown.isEmpty else { return }
            if backlogKeys.count > 100_000 { backlogKeys.removeAll() }
            let keys = unknown.flatMap { [template.key(for: $0), backlog.key(for: $0)] }
            let replies = try links.run(keys.count, doing: "reading the archive key types", key: { keys[$0] }) { i, batch in
                batch.add([Array("TYPE".utf8), keys[i]])
            }
            for (n, channel) in unknown.enumerated() {
                // Another type at the archive key: the ZADD reports it.
                let target = try? ArchiveTarget.decide(Array(replies[2 * n..<2 * n + 2]), channel: channel, archive: template, backlog: backlog).0
                if case .backlog(let key)? = target { backlogKeys[channel] = .some(key) } else { backlogKeys[channel] = .some(nil) }
            }
        }

        /// The backlog key where the room's messages go, if it is one.
        func backlogKey(_ channel: UnsafeRawBufferPointer) -> [UInt8]? {
            backlogKeys[Array(channel)] ?? nil
        }
    }

    /// Leaves out what the archive already holds; builds the rest.
    private func prepare(_ records: Records, on links: ArchiveLinks, kinds: inout RoomKinds, recent: inout RecentArchive, ids: inout MessageIDs) throws -> Batch {
        var channels: [[UInt8]] = []
        var seen = Set<[UInt8]>()
        records.messages.forEach { _, channel, _ in
            let name = Array(channel)
            if seen.insert(name).inserted { channels.append(name) }
            return true
        }
        try kinds.learn(channels, template: template, backlog: backlog, on: links)
        var batch = Batch()
        var backlogIndex: [[UInt8]: Int] = [:]
        var wanted: [[UInt8]: (channel: [UInt8], oldest: Int64)] = [:]
        var i = 0
        records.messages.forEach { _, channel, payload in
            if let key = kinds.backlogKey(channel) {
                if let at = backlogIndex[key] {
                    batch.backlogs[at].payloads.append(Array(payload))
                } else {
                    backlogIndex[key] = batch.backlogs.count
                    batch.backlogs.append(.init(key: key, payloads: [Array(payload)]))
                }
                i += 1
                return true
            }
            let key = template.key(for: channel)
            let ts = records.stamps[i]
            if let known = wanted[key] {
                if ts < known.oldest { wanted[key]?.oldest = ts }
            } else {
                wanted[key] = (Array(channel), ts)
            }
            i += 1
            return true
        }
        try recent.refresh(wanted) { (reads) throws(RoomWardenError) in
            try links.run(reads.count, doing: "reading the archives", key: { reads[$0].arguments[1] }) { i, batch in batch.add(reads[i]) }
        }
        var envelope: [UInt8] = []
        var id: [UInt8] = []
        i = 0
        records.messages.forEach { _, channel, payload in
            let ts = records.stamps[i]
            i += 1
            if kinds.backlogKey(channel) != nil { return true }
            let key = template.key(for: channel)
            if recent.holds(key: key, payload: payload, ts: ts) { return true }
            envelope.removeAll(keepingCapacity: true)
            id.removeAll(keepingCapacity: true)
            ids.append(ts: ts, to: &id)
            Envelope.appendJSON(id: id, ts: ts, channel: channel, from: nil, payload: payload, to: &envelope)
            batch.written.append((key, envelope, ts))
            return true
        }
        return batch
    }

    /// Sends one batch and checks every reply: a refused entry is given up
    /// and reported; a failed link throws (the batch is sent again).
    private func send(_ batch: Batch, on links: ArchiveLinks, recent: inout RecentArchive, pushes: inout BacklogPushes) throws {
        var refused: [String: Int] = [:]
        let backlogKeys = batch.backlogs.map(\.key)
        try links.forEachNode(backlogKeys, doing: "pushing to the list backlogs") { c, indices in
            refused.merge(try pushes.push(indices.map { batch.backlogs[$0] }, on: c), uniquingKeysWith: +)
        }
        try links.checkNotRedirected(refused.keys, doing: "pushing to the list backlogs")
        let written = batch.written
        let replies = try links.run(written.count, doing: "writing the archives", key: { written[$0].key }) { i, commands in
            commands.begin(4)
            commands.argument("ZADD")
            commands.argument(written[i].key)
            commands.argument(written[i].score)
            commands.argument(written[i].member)
        }
        for (entry, reply) in zip(batch.written, replies) {
            if let line = reply.errorMessage {
                refused[line, default: 0] += 1
            } else {
                recent.wrote(key: entry.key, member: entry.member, score: entry.score)
            }
        }
        guard !refused.isEmpty else { return }
        condition.lock()
        for (line, n) in refused { giveUp(n, "Redis refused the archive write: \(line)") }
        condition.unlock()
    }

    // MARK: Reports (under `condition`)

    /// Counts `n` messages given up for `reason`; reported at once the
    /// first time, then at most once a second.
    private func giveUp(_ n: Int, _ reason: String, now: Bool = false) {
        unreported[reason, default: 0] += n
        flushReports(force: now)
    }

    private func flushReports(force: Bool) {
        guard !unreported.isEmpty else { return }
        let t = Monotonic.milliseconds()
        guard force || t - (reportedAt ?? .min / 2) >= 1000 else { return }
        reportedAt = t
        for (reason, n) in unreported.sorted(by: { $0.key < $1.key }) {
            printDiagnostic("--archive: \(n) message\(n == 1 ? "" : "s") not archived: \(reason)")
        }
        unreported.removeAll()
    }
}
