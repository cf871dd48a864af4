import Hiredis

/// Fills a gap in what watch received from the archives of the rooms it
/// watches (SPEC §5): reads them from just before the gap to just after
/// it, in time order, and hands over to the live link with the same exact
/// handoff as `history --follow`, so each message prints once. Rooms
/// without an archive cannot be filled: their loss is reported.
final class GapReplay {
    private let settings: ConnectionSettings
    private let targets: [String]
    private let template: ArchiveKeyTemplate
    private let backlog: BacklogKeyTemplate?
    /// Rooms already said to keep only a list backlog.
    private var toldBacklogs = Set<[UInt8]>()
    /// Its own connections, opened at the first gap and kept.
    private var topology: Topology?

    /// How long before the last byte heard a message that was not
    /// received may have been stamped by its publisher.
    static let margin: Int64 = 1000

    /// What a replay did.
    struct Outcome {
        var replayed = 0
        /// The rooms whose archives were read.
        var rooms: Set<[UInt8]> = []
        /// The rooms kept only in a list backlog (no times): not replayed.
        var backlogs: Set<[UInt8]> = []
    }

    /// `targets`: the watched patterns and channels; `backlog`: where the
    /// recipe's list backlogs are (nil: not looked for).
    init(settings: ConnectionSettings, targets: [String], template: ArchiveKeyTemplate, backlog: BacklogKeyTemplate?) {
        self.settings = settings
        self.targets = targets
        self.template = template
        self.backlog = backlog
    }

    /// Learns the topology now, while the node named is up, so that on a
    /// Redis Cluster a later replay finds the other nodes even when that
    /// one is gone. A failure is left for the replay to meet and report.
    func prepare() {
        guard topology == nil, settings.sentinel == nil else { return }
        topology = try? settings.topology(retryFor: settings.failoverWait)
    }

    /// Prints, marked as replayed, every archived message of the watched
    /// rooms stamped from `from` on (before `until`, if given) that
    /// `admit` lets through, then sends
    /// `handoff`'s marker: live messages up to it that were printed here
    /// are dropped. `subscribedAt`: when the live link's subscriptions
    /// were confirmed (Unix ms).
    func run(
        from: Int64, until: Int64?, subscribedAt: Int64, handoff: Handoff, markerRefused: String?,
        formatter: MessageFormatter, sink: OutputSink,
        admit: @escaping (MessageView) -> Bool, shouldStop: @escaping () -> RoomWardenError?
    ) throws(RoomWardenError) -> Outcome {
        // Behind Redis Sentinel a gap may be a failover: the archives are
        // read, and the marker sent, on the master the sentinels name now.
        if settings.sentinel != nil { topology = nil }
        if let kept = topology {
            // The link kept since the last replay may have been lost with
            // the live one: one that fails before printing anything is
            // opened afresh at once.
            var printedAny = false
            do {
                return try run(on: kept, from: from, until: until, subscribedAt: subscribedAt, handoff: handoff, markerRefused: markerRefused,
                               formatter: formatter, sink: sink, admit: { view in
                                   guard admit(view) else { return false }
                                   printedAny = true
                                   return true
                               }, shouldStop: shouldStop)
            } catch where !printedAny && error.exitCode == 69 && shouldStop() == nil {
                topology = nil
            }
        }
        let t = try settings.topology(retryFor: settings.failoverWait)
        topology = t
        return try run(on: t, from: from, until: until, subscribedAt: subscribedAt, handoff: handoff, markerRefused: markerRefused,
                       formatter: formatter, sink: sink, admit: admit, shouldStop: shouldStop)
    }

    private func run(
        on t: Topology, from: Int64, until: Int64?, subscribedAt: Int64, handoff: Handoff, markerRefused: String?,
        formatter: MessageFormatter, sink: OutputSink,
        admit: @escaping (MessageView) -> Bool, shouldStop: @escaping () -> RoomWardenError?
    ) throws(RoomWardenError) -> Outcome {
        var begun = false
        do {
            let found = try ArchiveDiscovery.rooms(t, targets: targets, template: template, backlog: backlog)
            let lists = found.filter { $0.kind == .list }
            tellOnce(lists)
            let rooms = found.filter { $0.kind == .sortedSet }
            guard !rooms.isEmpty else { return Outcome(backlogs: Set(lists.map(\.channel))) }
            handoff.begin(subscribedAt: subscribedAt)
            begun = true
            var options = HistoryOptions()
            options.targets = rooms.map { Glob.escaping($0.channel) }
            options.template = template
            options.backlog = nil
            options.since = from
            options.until = until
            // Small pages: a replay runs while the live queue is full.
            options.pageSize = 100
            var marked = formatter
            marked.marksReplayed = true
            let reader = HistoryReader(topology: t, options: options, formatter: marked, sink: sink)
            var outcome = Outcome(replayed: 0, rooms: Set(rooms.map(\.channel)), backlogs: Set(lists.map(\.channel)))
            reader.admit = { view in
                guard admit(view) else { return false }
                outcome.replayed += 1
                return true
            }
            reader.printed = handoff.archived
            reader.shouldStop = shouldStop
            try reader.run()
            try handoff.archiveDone(on: t, markerRefused: markerRefused)
            return outcome
        } catch {
            if begun { handoff.abandon() }
            topology = nil
            throw error
        }
    }

    /// Says once per room, on one line for all found at once, that a list
    /// backlog cannot be replayed: its entries have no times.
    private func tellOnce(_ lists: [ArchivedRoom]) {
        let new = lists.filter { toldBacklogs.insert($0.channel).inserted }
        guard !new.isEmpty else { return }
        let named = new.prefix(5).map { "\(String(decoding: $0.channel, as: UTF8.self)) (\(String(decoding: $0.key, as: UTF8.self)))" }
        let more = new.count > 5 ? " and \(new.count - 5) more" : ""
        let rooms = new.count == 1 ? "room keeps" : "rooms keep"
        printDiagnostic("\(new.count) \(rooms) only a list backlog, whose entries have no times, so watch cannot replay \(new.count == 1 ? "it" : "them") (--since, gaps): \(named.joined(separator: ", "))\(more)")
    }
}
