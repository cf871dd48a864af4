import Foundation
import Hiredis

/// Checks `condition` every `interval` seconds until it holds; throws
/// after `timeout` seconds, saying what was awaited and what the last
/// check saw (its error, or the text it left in `lastSeen`).
func waitFor(
    _ what: String, timeout: TimeInterval, interval: TimeInterval = 0.05,
    _ condition: (inout String) throws -> Bool
) throws {
    let deadline = Date().addingTimeInterval(timeout)
    var lastSeen = ""
    while true {
        do {
            if try condition(&lastSeen) { return }
        } catch {
            lastSeen = "\(error)"
        }
        if Date() >= deadline { break }
        usleep(useconds_t(interval * 1_000_000))
    }
    throw FixtureError("timed out after \(timeout) s waiting for \(what)" + (lastSeen.isEmpty ? "" : "; last seen: \(lastSeen)"))
}

/// The `field:value` lines of an INFO, CLUSTER INFO or ROLE-like text reply.
func infoFields(_ reply: Reply) -> [String: String] {
    var fields: [String: String] = [:]
    for line in (reply.string ?? "").split(whereSeparator: \.isNewline) {
        guard let colon = line.firstIndex(of: ":"), !line.hasPrefix("#") else { continue }
        fields[String(line[..<colon])] = String(line[line.index(after: colon)...])
    }
    return fields
}

/// A flat `[name, value, name, value ...]` array reply (SENTINEL MASTER) as
/// a dictionary of texts.
func pairs(_ reply: Reply) -> [String: String] {
    var out: [String: String] = [:]
    let items = reply.elements ?? []
    var i = 0
    while i + 1 < items.count {
        if let k = items[i].string { out[k] = items[i + 1].string ?? items[i + 1].integer.map(String.init) }
        i += 2
    }
    return out
}

/// The first element of a ROLE reply: `master`, `slave` or `sentinel`.
func roleName(_ reply: Reply) -> String? { reply.elements?.first?.string }

/// Runs a program to completion (killed after `timeout` seconds) with its
/// output in `log`; returns its exit status and output.
func runTool(_ path: String, _ arguments: [String], log: URL, timeout: TimeInterval) throws -> (status: Int32, output: String) {
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let handle = try FileHandle(forWritingTo: log)
    defer { try? handle.close() }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(20_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    return (p.terminationStatus, output)
}
