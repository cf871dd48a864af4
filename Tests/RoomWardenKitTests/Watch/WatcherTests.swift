import Foundation
import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// `Watcher` used as a library: when a watch ends, every thread it
/// started is gone.
final class WatcherTests: XCTestCase {
    /// The names of this process's threads.
    private func threadNames() -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    private func watcherThreads() -> [String] { threadNames().filter { $0.hasPrefix("rw-") } }

    /// How many connections are in subscribed mode.
    private func pubsubClients(_ server: RedisServer) throws -> Int {
        (try server.run("CLIENT", "LIST", "TYPE", "pubsub").string ?? "").split(separator: "\n").count
    }

    func testEveryThreadStopsWhenTheWatchEnds() throws {
        let server = try RedisServer()
        var settings = ConnectionSettings()
        settings.endpoint = .unix(path: server.socketPath)
        var options = WatchOptions()
        options.patterns = ["room:*"]
        options.count = 2
        options.waitMilliseconds = 5000
        options.archive = .standard
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        XCTAssertEqual(watcherThreads(), [])
        for round in 0..<3 {
            let watcher = try Watcher(settings: settings, options: options, formatter: MessageFormatter(format: .text),
                                      sink: OutputSink(fd: devNull))
            let subscribers = try pubsubClients(server)
            let publisher = Thread {
                let deadline = Date().addingTimeInterval(5)
                while ((try? self.pubsubClients(server)) ?? 0) <= subscribers && Date() < deadline { usleep(5_000) }
                _ = try? server.run("PUBLISH", "room:a", "one \(round)")
                _ = try? server.run("PUBLISH", "room:a", "two \(round)")
            }
            publisher.start()
            XCTAssertNoThrow(try watcher.run(), "round \(round)")
            // Each thread has returned from its work; give it a moment to end.
            let ending = Date().addingTimeInterval(1)
            while !watcherThreads().isEmpty && Date() < ending { usleep(5_000) }
            XCTAssertEqual(watcherThreads(), [], "round \(round): the reader, the archive writer and the stdout watch have ended")
            XCTAssertEqual(try pubsubClients(server), 0, "round \(round): the subscription is closed")
        }
        XCTAssertEqual(try server.run("ZCARD", "room:a:archive"), .integer(6))
    }
}
