import Hiredis

/// `watch --archive`: writes observed messages to their rooms' archives
/// through a second connection, one pipelined round trip per batch.
/// Failures are reported on stderr once per cause and watching goes on.
final class ArchiveWriter {
    private let settings: ConnectionSettings
    private let template: ArchiveKeyTemplate
    private var connection: Connection?
    private var batch = CommandBatch()
    private var ids = MessageIDs()
    private var envelope: [UInt8] = []
    private var id: [UInt8] = []
    private var reported: Set<String> = []

    init(settings: ConnectionSettings, template: ArchiveKeyTemplate) {
        self.settings = settings
        self.template = template
    }

    func add(channel: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, ts: Int64) {
        envelope.removeAll(keepingCapacity: true)
        id.removeAll(keepingCapacity: true)
        ids.append(ts: ts, to: &id)
        Envelope.appendJSON(id: id, ts: ts, channel: channel, from: nil, payload: payload, to: &envelope)
        batch.begin(4)
        batch.argument("ZADD")
        batch.argument(template.key(for: channel))
        batch.argument(ts)
        batch.argument(envelope)
    }

    /// Sends what was added and checks every reply.
    func commit() throws(RoomWardenError) {
        guard batch.count > 0 else { return }
        defer { batch.removeAll() }
        do {
            if connection == nil { connection = try settings.connect() }
            guard let c = connection else { return }
            try c.append(batch)
            for reply in try c.readReplies(batch.count) {
                if let line = reply.errorMessage { report("--archive: Redis refused an archive write: \(line)", key: line) }
            }
        } catch let error as RoomWardenError {
            if error.exitCode == 77 || error.exitCode == 64 { throw error }
            connection = nil
            report("--archive: \(error.message); \(batch.count) messages not archived, will retry with the next ones", key: "connect")
        } catch let error as RedisError {
            connection = nil
            report("--archive: \(error) at \(settings.endpoint); \(batch.count) messages not archived, will retry with the next ones", key: "io")
        } catch {
            report("--archive: \(error)", key: "other")
        }
    }

    private func report(_ text: String, key: String) {
        let first = key.split(separator: " ").first.map(String.init) ?? key
        if reported.insert(first).inserted { printDiagnostic(text) }
    }
}
