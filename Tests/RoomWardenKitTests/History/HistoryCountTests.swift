import Hiredis
import RedisFixture
import RoomWardenKit
import XCTest

/// The share-done figure of history's progress line: what the export will
/// print, counted on the server.
final class HistoryCountTests: XCTestCase {
    static var server: RedisServer!

    override class func setUp() {
        do { server = try RedisServer() } catch { fatalError("\(error)") }
    }

    override class func tearDown() { server?.stop() }

    private func count(_ configure: (inout HistoryOptions) -> Void) throws -> Int? {
        var options = HistoryOptions()
        configure(&options)
        return options.expectedCount(.single(try Self.server.connect()))
    }

    func testCountsTheWindowInEachKeysUnitAndCapsLikeTheExport() throws {
        let t0: Int64 = 1_795_300_000_000
        for i in 0..<10 { _ = try Self.server.run("ZADD", "room:ms:archive", String(t0 + Int64(i) * 1000), "m\(i)") }
        for i in 0..<6 { _ = try Self.server.run("ZADD", "room:sec:archive", String(t0 / 1000 + Int64(i)), "s\(i)") }
        for i in 0..<4 { _ = try Self.server.run("LPUSH", "room:list:archive", "l\(i)") }
        _ = try Self.server.run("SET", "room:string:archive", "not an archive")

        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:sec", "room:list"] }, 20)
        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:sec"]; $0.since = t0 + 4000; $0.until = t0 + 8000 }, 4 + 2,
                       "the window in milliseconds for one key, in seconds for the other")
        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:sec"]; $0.scoreUnit = .milliseconds; $0.since = t0 }, 10,
                       "--score-unit ms: the seconds-scored key is all before the window")
        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:sec", "room:list"]; $0.last = 3 }, 3,
                       "--last N: N in all (#18), as the export prints")
        XCTAssertEqual(try count { $0.targets = ["room:*"]; $0.ignore = ["room:ms"] }, 10, "--ignore leaves rooms out")
        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:sec", "room:list"]; $0.limit = 7 }, 7)
        XCTAssertEqual(try count { $0.targets = ["room:nothing"] }, 0)
        XCTAssertEqual(try count { $0.targets = ["room:*"] }, 20, "a key of another type counts nothing here; the export reports it")
        _ = try Self.server.run("LPUSH", "room:recipe:backlog", "b0", "b1")
        XCTAssertEqual(try count { $0.targets = ["room:recipe"] }, 2, "a recipe backlog is counted")
        XCTAssertEqual(try count { $0.targets = ["room:ms", "room:recipe", "room:list"]; $0.since = t0 + 4000 }, 6,
                       "a window leaves list backlogs out")
    }
}
