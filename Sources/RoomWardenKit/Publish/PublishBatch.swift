import Hiredis

/// What every batch of one run shares: the channel, where messages are
/// kept, and how the archive is trimmed.
struct PublishPlan {
    let channel: [UInt8]
    let target: ArchiveTarget
    /// `--retain`, in ms (sorted sets only).
    let retainMilliseconds: Int64?
    /// `--max-len`.
    let maxLength: Int?

    /// Commands queued between MULTI and EXEC besides the PUBLISHes.
    var archiveCommands: Int {
        switch target {
        case .none: return 0
        case .sortedSet: return 1 + (retainMilliseconds == nil ? 0 : 1) + (maxLength == nil ? 0 : 1)
        case .backlog: return 1 + (maxLength == nil ? 0 : 1)
        }
    }
}

/// Consecutive input lines published as one transaction (SPEC §6):
/// `MULTI; ZADD <archive> ts1 m1 ... tsN mN; [trims]; PUBLISH x N; EXEC`,
/// or for a list backlog `MULTI; LPUSH <backlog> p1 ... pN; [LTRIM];
/// PUBLISH x N; EXEC`: all of it runs or none of it, so no message is
/// published without its archive entry. The envelopes and payloads are
/// kept until the transaction is confirmed, to be sent again (cut in
/// halves if need be) after a lost connection.
struct PublishBatch: ResumableTransaction {
    let plan: PublishPlan
    /// The input line (record) number of the first message, from 1.
    let firstLine: Int
    /// Each message's time (ms), also its score.
    private(set) var ts: [Int64] = []
    /// The envelopes, back to back (sorted sets only), and where each ends.
    private(set) var members: [UInt8] = []
    private(set) var memberEnds: [Int] = []
    /// The payloads, back to back, and where each ends.
    private(set) var payloads: [UInt8] = []
    private(set) var payloadEnds: [Int] = []

    init(plan: PublishPlan, firstLine: Int) {
        self.plan = plan
        self.firstLine = firstLine
    }

    /// How many messages.
    var count: Int { payloadEnds.count }
    /// The last message's line number.
    var lastLine: Int { firstLine + count - 1 }
    /// Bytes sent, roughly (arguments and their framing).
    var size: Int { members.count + payloads.count + 64 * count }

    /// Adds one message; `envelope` appends its archive member (sorted sets).
    mutating func add(payload: UnsafeRawBufferPointer, ts stamp: Int64, envelope: (inout [UInt8]) -> Void) {
        ts.append(stamp)
        payloads.append(contentsOf: payload)
        payloadEnds.append(payloads.count)
        if case .sortedSet = plan.target {
            envelope(&members)
            memberEnds.append(members.count)
        }
    }

    /// Takes the last message out again.
    mutating func removeLast() {
        ts.removeLast()
        payloadEnds.removeLast()
        payloads.removeLast(payloads.count - (payloadEnds.last ?? 0))
        if !memberEnds.isEmpty {
            memberEnds.removeLast()
            members.removeLast(members.count - (memberEnds.last ?? 0))
        }
    }

    /// Message `i`'s payload.
    func payload(_ i: Int) -> ArraySlice<UInt8> {
        payloads[(i == 0 ? 0 : payloadEnds[i - 1])..<payloadEnds[i]]
    }

    /// Message `i`'s envelope (sorted sets).
    func member(_ i: Int) -> ArraySlice<UInt8> {
        members[(i == 0 ? 0 : memberEnds[i - 1])..<memberEnds[i]]
    }

    /// Message `i`'s envelope id: the first JSON string of the envelope,
    /// `{"id":"<id>",...`, which holds no escapes.
    func id(_ i: Int) -> ArraySlice<UInt8>? {
        guard i < memberEnds.count else { return nil }
        let m = member(i)
        let open = m.startIndex + 7
        guard m.count > 7, let close = m[open...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return m[open..<close]
    }

    // MARK: ResumableTransaction

    var queuedReplies: Int { 1 + plan.archiveCommands + count }

    func encodeQueued(into batch: inout CommandBatch) {
        batch.add(.multi)
        switch plan.target {
        case .none:
            break
        case .sortedSet(let key):
            batch.begin(2 + 2 * count)
            batch.argument(Names.zadd)
            batch.argument(key)
            for i in 0..<count {
                batch.argument(ts[i])
                member(i).withUnsafeBytes { batch.argument($0) }
            }
            if let retain = plan.retainMilliseconds, let newest = ts.last {
                batch.add(.zremRangeByScore(key: key, from: .negativeInfinity, to: .exclusive(Score(newest - retain))))
            }
            if let max = plan.maxLength {
                batch.add(.zremRangeByRank(key: key, start: 0, stop: -(max + 1)))
            }
        case .backlog(let key):
            batch.begin(2 + count)
            batch.argument(Names.lpush)
            batch.argument(key)
            for i in 0..<count { payload(i).withUnsafeBytes { batch.argument($0) } }
            if let max = plan.maxLength {
                batch.add(.ltrim(key: key, start: 0, stop: max - 1))
            }
        }
        for i in 0..<count {
            batch.begin(3)
            batch.argument(Names.publish)
            batch.argument(plan.channel)
            payload(i).withUnsafeBytes { batch.argument($0) }
        }
    }

    func readOutcome(from connection: Connection) throws(RedisError) -> PublishOutcome {
        let multi = try connection.readReply()
        var queueError: String?
        var direct: [Reply] = []  // MULTI refused: each command ran on its own
        let commands = plan.archiveCommands + count
        if multi.errorMessage == nil {
            for _ in 0..<commands {
                if let line = try connection.readReply().errorMessage, queueError == nil { queueError = line }
            }
        } else {
            direct = try connection.readReplies(commands)
        }
        let exec = try connection.readReply()
        if let line = multi.errorMessage {
            return outcome(of: direct, refusal: line)
        }
        if let line = queueError {
            // EXECABORT: nothing ran. Not here or not now: elsewhere, or later.
            if RedisError.server(line).disposition != .refused { throw .server(line) }
            return PublishOutcome(count: count, refusal: .init(line: line, published: false, archived: false))
        }
        guard let results = exec.elements else {
            let line = exec.errorMessage ?? "EXEC did not run the transaction"
            if RedisError.server(line).disposition != .refused { throw .server(line) }
            return PublishOutcome(count: count, refusal: .init(line: line, published: false, archived: false))
        }
        guard results.count == commands else {
            return PublishOutcome(count: count, refusal: .init(
                line: "EXEC returned \(results.count) results for \(commands) commands", published: false, archived: false))
        }
        return outcome(of: results, refusal: nil)
    }

    /// Reads the results of the commands, in the order they were sent.
    private func outcome(of results: [Reply], refusal given: String?) -> PublishOutcome {
        var out = PublishOutcome(count: count, refusal: nil)
        let firstPublish = plan.archiveCommands
        guard results.count == firstPublish + count else {
            out.refusal = .init(line: given ?? "unexpected replies", published: false, archived: false)
            return out
        }
        for i in 0..<count { out.receivers[i] = results[firstPublish + i].integer }
        let archiveError = plan.archiveCommands > 0 ? results[0].errorMessage : nil
        let trimError = results[min(1, firstPublish)..<firstPublish].lazy.compactMap(\.errorMessage).first
        let publishError = results[firstPublish...].lazy.compactMap(\.errorMessage).first
        if let line = given ?? archiveError ?? trimError ?? publishError {
            out.refusal = .init(line: line, published: publishError == nil && out.receivers.allSatisfy { $0 != nil },
                                archived: archiveError == nil && plan.archiveCommands > 0, trimmed: trimError == nil)
        }
        return out
    }

    func halves() -> (PublishBatch, PublishBatch)? {
        guard count > 1 else { return nil }
        let cut = count / 2
        return (slice(0..<cut), slice(cut..<count))
    }

    /// The messages `range` as a batch of their own.
    private func slice(_ range: Range<Int>) -> PublishBatch {
        var part = PublishBatch(plan: plan, firstLine: firstLine + range.lowerBound)
        part.ts = Array(ts[range])
        let payloadBase = range.lowerBound == 0 ? 0 : payloadEnds[range.lowerBound - 1]
        part.payloads = Array(payloads[payloadBase..<payloadEnds[range.upperBound - 1]])
        part.payloadEnds = payloadEnds[range].map { $0 - payloadBase }
        if !memberEnds.isEmpty {
            let memberBase = range.lowerBound == 0 ? 0 : memberEnds[range.lowerBound - 1]
            part.members = Array(members[memberBase..<memberEnds[range.upperBound - 1]])
            part.memberEnds = memberEnds[range].map { $0 - memberBase }
        }
        return part
    }

    private enum Names {
        static let zadd = Array("ZADD".utf8), lpush = Array("LPUSH".utf8), publish = Array("PUBLISH".utf8)
    }
}

/// What the replies of one batch said.
struct PublishOutcome {
    /// A refused transaction (or part of one).
    struct Refusal {
        /// The server's error line.
        var line: String
        /// Every message of the batch was published all the same.
        var published: Bool
        /// Every message was archived.
        var archived: Bool
        /// The trims ran.
        var trimmed = true
    }

    /// Each message's receivers; nil where it was not published.
    var receivers: [Int64?]
    /// The first refusal, if any.
    var refusal: Refusal?

    init(count: Int, refusal: Refusal?) {
        receivers = Array(repeating: nil, count: count)
        self.refusal = refusal
    }
}
