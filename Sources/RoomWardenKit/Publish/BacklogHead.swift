import Hiredis

/// What publish knows of a list backlog's newest entries, to find out after
/// a lost connection whether the batches in flight were pushed.
///
/// A list has no ids: the check compares the list's head with what it
/// would be if the first 0, 1, ... of the batches in flight had run
/// (their payloads, newest first, on top of the entries known before).
/// Exactly one match answers; none (another writer pushed meanwhile, or
/// trimmed the evidence away) or several (identical payloads) cannot tell,
/// and publish then stops and reports those lines as in doubt rather than
/// risk publishing them twice.
struct BacklogHead {
    /// The newest entries, newest first: at most `ArchiveTarget.headLength`.
    private(set) var entries: [[UInt8]]
    /// The list holds exactly `entries`, nothing older.
    private(set) var whole: Bool
    /// `--max-len`: the list is trimmed to it after each push.
    let maxLength: Int?

    init(entries: [[UInt8]], maxLength: Int?) {
        self.entries = entries
        whole = entries.count < ArchiveTarget.headLength
        self.maxLength = maxLength
    }

    /// After `batches` ran: the list's newest entries known (newest first),
    /// and whether that is the whole list.
    private func after(_ batches: ArraySlice<PublishBatch>) -> (known: [[UInt8]], whole: Bool) {
        var known: [[UInt8]] = []
        for batch in batches.reversed() {
            for i in stride(from: batch.count - 1, through: 0, by: -1) { known.append(Array(batch.payload(i))) }
        }
        known += entries
        var isWhole = whole
        if let m = maxLength, known.count >= m {
            known.removeLast(known.count - m)
            isWhole = true
        }
        return (known, isWhole)
    }

    /// Records a batch that ran.
    mutating func pushed(_ batch: PublishBatch) {
        let (known, isWhole) = after([batch][...])
        entries = Array(known.prefix(ArchiveTarget.headLength))
        whole = isWhole && known.count <= ArchiveTarget.headLength
    }

    /// How many of `sent` (oldest first) were pushed, read from the list on
    /// `link`; nil when the list cannot tell.
    func executedPrefix(of sent: [PublishBatch], key: [UInt8], on link: TransactionLink) throws(RedisError) -> Int? {
        let expectations = (0...sent.count).map { after(sent[..<$0]) }
        let window = (expectations.map(\.known.count).max() ?? 0) + 1
        let reply = try link.run([.lrange(key: key, start: 0, stop: window - 1)])[0].check()
        let head = (reply.elements ?? []).compactMap(\.bytes)
        let matches = expectations.indices.filter { i in
            let e = expectations[i]
            return e.whole ? head == e.known : head.count >= e.known.count && Array(head.prefix(e.known.count)) == e.known
        }
        return matches.count == 1 ? matches[0] : nil
    }
}

extension PublishBatch {
    /// How many of `sent` (oldest first) are in the sorted set at `key`: the
    /// newest whose last envelope is there (a batch runs whole or not at
    /// all, and in order). The last envelope of a batch is its newest, the
    /// last one any trim of this publisher removes.
    static func executedPrefix(of sent: [PublishBatch], key: [UInt8], on link: TransactionLink) throws(RedisError) -> Int {
        let replies = try link.run(sent.map { .zscore(key: key, member: Array($0.member($0.count - 1))) })
        for r in replies { try r.check() }
        return (replies.lastIndex { $0.bytes != nil }).map { $0 + 1 } ?? 0
    }

    /// Which of `batches`, confirmed earlier by another server, are missing
    /// from the sorted set at `key` on `link`'s server (one member per
    /// batch: a transaction replicates whole or not at all). A batch that
    /// the publisher's own trims would have removed by now is not missing:
    /// older than `--retain` before the newest, or, with `--max-len`, below
    /// the oldest entry of an archive that is full.
    static func missing(
        _ batches: [PublishBatch], key: [UInt8], plan: PublishPlan, on link: TransactionLink
    ) throws(RedisError) -> [Bool] {
        var commands: [Command] = batches.map { .zscore(key: key, member: Array($0.member($0.count - 1))) }
        if plan.maxLength != nil {
            commands += [.zcard(key: key), Command("ZRANGE", [key, Array("0".utf8), Array("0".utf8), Array("WITHSCORES".utf8)])]
        }
        let replies = try link.run(commands)
        for r in replies { try r.check() }
        var floor: Int64?
        if let maxLength = plan.maxLength, let card = replies[batches.count].integer, card >= Int64(maxLength),
           let lowest = replies[batches.count + 1].elements, lowest.count == 2, let text = lowest[1].string {
            floor = Int64(text) ?? Double(text).map { Int64($0) }
        }
        let newest = batches.compactMap(\.ts.last).max() ?? 0
        return batches.indices.map { i in
            guard replies[i].bytes == nil, let ts = batches[i].ts.last else { return false }
            if let retain = plan.retainMilliseconds, ts < newest - retain { return false }
            if let floor, ts < floor { return false }
            return true
        }
    }
}
