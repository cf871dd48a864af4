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

    func testEveryThreadStopsWhenTheWatchEnds() throws {
        let server = try RedisServer()
        var settings = ConnectionSettings()
        settings.endpoint = .unix(path: server.socketPath)
        var options = WatchOptions()
        options.patterns = ["room:*"]
        options.count = 2
        options.archive = .standard
        let devNull = open("/dev/null", O_WRONLY)
        defer { close(devNull) }
        XCTAssertEqual(watcherThreads(), [])
        for round in 0..<3 {
            let watcher = try Watcher(settings: settings, options: options, formatter: MessageFormatter(format: .text),
                                      sink: OutputSink(fd: devNull))
            let publisher = Thread {
                while (try? server.run("PUBSUB", "NUMPAT").integer) != 1 { usleep(5_000) }
                _ = try? server.run("PUBLISH", "room:a", "one \(round)")
                _ = try? server.run("PUBLISH", "room:a", "two \(round)")
            }
            publisher.start()
            try watcher.run()
            XCTAssertEqual(watcherThreads(), [], "round \(round): the reader, the archive writer and the stdout watch have returned")
            XCTAssertEqual(try server.run("PUBSUB", "NUMPAT"), .integer(0), "the subscription is closed")
        }
        XCTAssertEqual(try server.run("ZCARD", "room:a:archive"), .integer(6))
    }
}
