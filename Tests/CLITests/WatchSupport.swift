import Foundation
import Hiredis
import RedisFixture
import XCTest

extension RedisServer {
    /// Subscriptions (patterns and channels) held by all pub/sub clients.
    func subscriptionCount() throws -> Int {
        let list = try run("CLIENT", "LIST", "TYPE", "pubsub").string ?? ""
        var total = 0
        for field in list.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if field.hasPrefix("psub=") { total += Int(field.dropFirst(5)) ?? 0 }
            if field.hasPrefix("sub=") { total += Int(field.dropFirst(4)) ?? 0 }
        }
        return total
    }

    /// The seed recipe's chat backend: `MULTI; LPUSH <room>:backlog
    /// <message>; PUBLISH <room> <message>; EXEC`, one message at a time.
    /// Returns each EXEC's reply (two results when the transaction ran).
    func recipe(_ room: String, _ messages: [String]) throws -> [Reply] {
        let c = try connect()
        return try messages.map { m in
            var b = CommandBatch()
            b.add("MULTI")
            b.add("LPUSH", "\(room):backlog", m)
            b.add("PUBLISH", room, m)
            b.add("EXEC")
            try c.append(b)
            return try c.readReplies(4)[3]
        }
    }

    /// Publishes raw bytes; returns the receivers.
    @discardableResult
    func publish(_ channel: String, _ payload: [UInt8]) throws -> Int64 {
        try connect().command([Array("PUBLISH".utf8), Array(channel.utf8), payload]).integer ?? -1
    }
}

extension XCTestCase {
    /// Starts `roomwarden watch` on `server` (through `address`, its unix
    /// socket by default) and waits until its `subscriptions` are in
    /// place, so what is published next is seen. `command` replaces
    /// `watch` (`["history", "--follow"]`).
    func startWatch(_ args: [String], on server: RedisServer? = nil, address: [String]? = nil, subscriptions: Int = 1,
                    readOutput: Bool = true, env: [String: String] = [:], command: [String] = ["watch"],
                    file: StaticString = #filePath, line: UInt = #line) throws -> CLIProcess {
        let s = server ?? self.server
        let before = try s.subscriptionCount()
        let p = try CLIProcess(command + args + (address ?? s.socketArguments), environment: env, readOutput: readOutput)
        let deadline = Date().addingTimeInterval(10)
        while try s.subscriptionCount() < before + subscriptions {
            if Date() > deadline || !p.process.isRunning {
                XCTFail("watch did not subscribe: \(p.stderrSoFar)", file: file, line: line)
                break
            }
            usleep(10_000)
        }
        return p
    }
}
