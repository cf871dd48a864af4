import Hiredis

/// Why `publish` stopped short, and where every input line stands: how
/// many were confirmed, which are in doubt, and the first line not
/// published, for `tail -n +LINE` to resume from.
public struct PublishStopped: Error {
    /// What ended it; its exit code is the program's.
    public var error: RoomWardenError
    /// How it ended: `interrupted`, `connection_lost` or `refused`.
    public var outcome: String
    /// Lines confirmed (published and archived; published with
    /// `--no-archive`): lines 1 to `confirmed`.
    public var confirmed: Int
    /// Lines sent whose fate is unknown: the connection was lost before
    /// Redis confirmed them and the check could not be made.
    public var inDoubt: ClosedRange<Int>?
    /// Lines published whose archive write the server refused.
    public var publishedNotArchived: ClosedRange<Int>?
    /// The first line not confirmed: `tail -n +resumeLine` resumes.
    public var resumeLine: Int
    /// Whether anything is archived (false with `--no-archive`).
    public var archives: Bool

    /// One line for stderr: what happened, the counts, how to resume
    /// (`tail` is the command that skips to a line for this input's
    /// framing; nil for a message given on the command line).
    public func line(resumeWith tail: String?) -> String {
        var parts = [error.message]
        let done = archives ? "published and archived" : "published"
        switch confirmed {
        case 0: parts.append("no lines \(done)")
        case 1: parts.append("1 line \(done)")
        default: parts.append("\(confirmed) lines \(done)")
        }
        if let doubt = inDoubt {
            parts.append("\(Self.lines(doubt)) in doubt (sent, but the connection was lost before Redis confirmed them)")
        } else {
            parts[parts.count - 1] += ", none in doubt"
        }
        if let tail {
            var resume = "resume with: \(tail) +\(resumeLine)"
            if let doubt = inDoubt { resume += " (\(Self.lines(doubt)) may then be published twice)" }
            if let skipped = publishedNotArchived, skipped.lowerBound == resumeLine {
                resume += " (publishes \(Self.lines(skipped)) again; +\(skipped.upperBound + 1) leaves them unarchived)"
            }
            parts.append(resume)
        }
        return parts.joined(separator: "; ")
    }

    /// The same as one JSON object (`--format json`, last line of stdout):
    /// `{"summary":"refused","exit_code":65,"error":"...","confirmed":5120,
    /// "in_doubt":null,"published_not_archived":[5121,6144],"resume_line":5121}`.
    public func json() -> [UInt8] {
        var out = Array(#"{"summary":"#.utf8)
        JSONText.appendString(outcome.utf8, to: &out)
        out += Array(#","exit_code":"#.utf8)
        JSONText.appendInteger(Int64(error.exitCode), to: &out)
        out += Array(#","error":"#.utf8)
        JSONText.appendString(error.message.utf8, to: &out)
        out += Array(#","confirmed":"#.utf8)
        JSONText.appendInteger(Int64(confirmed), to: &out)
        for (key, range) in [("in_doubt", inDoubt), ("published_not_archived", publishedNotArchived)] {
            out += Array(",\"\(key)\":".utf8)
            if let range {
                out += Array("[\(range.lowerBound),\(range.upperBound)]".utf8)
            } else {
                out += Array("null".utf8)
            }
        }
        out += Array(#","resume_line":"#.utf8)
        JSONText.appendInteger(Int64(resumeLine), to: &out)
        out += Array("}\n".utf8)
        return out
    }

    static func lines(_ r: ClosedRange<Int>) -> String {
        r.count == 1 ? "line \(r.lowerBound)" : "lines \(r.lowerBound)-\(r.upperBound)"
    }
}

/// Where each line of one publish run stands, kept as batches settle.
struct Ledger {
    let target: ArchiveTarget
    let channel: String
    /// Messages are numbered input lines (else the one message given).
    let numbered: Bool
    /// Lines 1...confirmedThrough are confirmed. Batches settle in order,
    /// and nothing runs after a refused one, so the confirmed lines are
    /// always a prefix of the input.
    private(set) var confirmedThrough = 0
    private(set) var publishedNotArchived: ClosedRange<Int>?
    /// The first failure; publishing stops after it.
    var failure: RoomWardenError?

    init(target: ArchiveTarget, channel: String, numbered: Bool) {
        self.target = target
        self.channel = channel
        self.numbered = numbered
    }

    /// A batch whose replies were read. Returns whether to go on.
    mutating func confirmed(
        _ batch: PublishBatch, _ outcome: PublishOutcome, head: inout BacklogHead, reportIDs: Bool,
        report: (Published) -> Void
    ) -> Bool {
        if let refusal = outcome.refusal {
            if failure == nil { failure = describe(refusal, batch) }
            if refusal.published && !refusal.archived {
                publishedNotArchived = (publishedNotArchived?.lowerBound ?? batch.firstLine)...batch.lastLine
            }
            // Published and archived, only the trim refused: confirmed all the same.
            if refusal.published && refusal.archived { accept(batch, outcome.receivers, head: &head, reportIDs: reportIDs, report: report) }
            return false
        }
        accept(batch, outcome.receivers, head: &head, reportIDs: reportIDs, report: report)
        return failure == nil
    }

    /// A batch found executed after a lost connection: its receivers are unknown.
    mutating func foundExecuted(
        _ batch: PublishBatch, head: inout BacklogHead, reportIDs: Bool, report: (Published) -> Void
    ) -> Bool {
        accept(batch, Array(repeating: nil, count: batch.count), head: &head, reportIDs: reportIDs, report: report)
        return failure == nil
    }

    private mutating func accept(
        _ batch: PublishBatch, _ receivers: [Int64?], head: inout BacklogHead, reportIDs: Bool,
        report: (Published) -> Void
    ) {
        confirmedThrough = max(confirmedThrough, batch.lastLine)
        if case .backlog = target { head.pushed(batch) }
        for i in 0..<batch.count {
            let id = reportIDs ? batch.id(i).map { String(decoding: $0, as: UTF8.self) } : nil
            report(Published(line: batch.firstLine + i, id: id, ts: batch.ts[i], receivers: receivers[i]))
        }
    }

    /// The user's words for a refused batch.
    private func describe(_ refusal: PublishOutcome.Refusal, _ batch: PublishBatch) -> RoomWardenError {
        let lines = numbered ? PublishStopped.lines(batch.firstLine...batch.lastLine) : "the message"
        let were = numbered && batch.count > 1 ? "were" : "was"
        let what: String
        switch (refusal.published, refusal.archived) {
        case (false, false): what = "not published: nothing of the transaction ran"
        case (true, false): what = "\(lines) \(were) published but not archived"
        case (false, true): what = "\(lines) \(were) archived but not published"
        case (true, true): what = "\(lines) \(were) published and archived, but the archive was not trimmed"
        }
        let code = RedisError.server(refusal.line).serverCode ?? ""
        let kind: String
        switch target {
        case .backlog: kind = "backlog"
        default: kind = "archive"
        }
        switch code {
        case "WRONGTYPE":
            return .data("\(kind) key '\(target.keyName)' holds another type (\(refusal.line)); \(what); fix or delete the key, or use --archive-key")
        case "NOPERM":
            return .denied("Redis denied publishing \(lines) to \(channel): \(refusal.line); \(what) (the ACL user lacks this permission)")
        case "NOAUTH", "WRONGPASS":
            return .denied("Redis requires a password (\(refusal.line)); \(what); give it with --askpass, REDISCLI_AUTH, -a or the URL")
        case "OOM":
            return .data("Redis refused \(lines): \(refusal.line); \(what); free memory or raise maxmemory first")
        default:
            return .data("Redis refused publishing \(lines) to \(channel): \(refusal.line); \(what)")
        }
    }

    /// The report when publishing stops for `error`, with what was left.
    func stopped(_ error: RoomWardenError, inDoubt: [PublishBatch], unsent: [PublishBatch]) -> PublishStopped {
        let outcome: String
        switch error.exitCode {
        case 130, 143: outcome = "interrupted"
        case 69: outcome = "connection_lost"
        default: outcome = "refused"
        }
        let doubt = inDoubt.isEmpty ? nil : (inDoubt[0].firstLine...inDoubt[inDoubt.count - 1].lastLine)
        var archives = true
        if case .none = target { archives = false }
        // Lines sent again after a switch and left unsent or in doubt were
        // confirmed once, but the new server lacks them: resume there.
        let confirmed = min(confirmedThrough, ((inDoubt + unsent).map(\.firstLine).min() ?? .max) - 1)
        return PublishStopped(error: error, outcome: outcome, confirmed: confirmed, inDoubt: doubt,
                              publishedNotArchived: publishedNotArchived, resumeLine: confirmed + 1,
                              archives: archives)
    }

    /// The report when the retrying engine gave up.
    func stopped(gaveUp: ResumableTransactions<PublishBatch>.GaveUp, retry: RetryPolicy, endpoint: Endpoint) -> PublishStopped {
        var error = gaveUp.error
        if error.exitCode == 69, let cause = gaveUp.cause {
            let lost = RoomWardenError.from(cause, doing: "publishing to \(channel)", endpoint: endpoint).message
            if gaveUp.undecidable {
                let why: String
                switch target {
                case .none: why = "--no-archive leaves no trace to check"
                case .backlog: why = "the backlog '\(target.keyName)' changed meanwhile or its entries are alike"
                case .sortedSet: why = "the archive cannot tell"
                }
                error.message = "\(lost); the link came back, but whether the lines in flight ran cannot be told (\(why))"
            } else {
                error.message = "\(lost); \(Self.notBack(retry, last: gaveUp.error, cause: cause))"
            }
        }
        return stopped(error, inDoubt: gaveUp.inDoubt, unsent: gaveUp.unsent)
    }

    /// `no retry (--retry-for 0)`, or `not back within --retry-for 30s`
    /// and the last attempt's failure when it was another.
    static func notBack(_ retry: RetryPolicy, last: RoomWardenError, cause: RedisError) -> String {
        if retry.budgetMilliseconds == 0 { return "no retry (--retry-for 0)" }
        var text = "not back within --retry-for \(duration(retry.budgetMilliseconds))"
        let lastFailure = last.message.prefix { $0 != ";" }
        if lastFailure != cause.description { text += " (last attempt: \(lastFailure))" }
        return text
    }

    static func duration(_ ms: Int64) -> String {
        ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}
