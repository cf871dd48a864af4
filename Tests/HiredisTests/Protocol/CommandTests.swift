import Hiredis
import XCTest

/// The typed command builders spell the commands Redis expects.
final class CommandTests: XCTestCase {
    private func words(_ c: Command) -> [String] { c.arguments.map { String(decoding: $0, as: UTF8.self) } }

    func testScoreRangesAndBounds() {
        let key = Array("room:a:archive".utf8)
        XCTAssertEqual(words(.zrangeByScore(key: key, from: .inclusive(Score(10)), to: .exclusive(Score(20)), limit: (3, 1000))),
                       ["ZRANGE", "room:a:archive", "10", "(20", "BYSCORE", "LIMIT", "3", "1000", "WITHSCORES"])
        XCTAssertEqual(words(.zrangeByScore(key: key, from: .positiveInfinity, to: .negativeInfinity, reverse: true, withScores: false)),
                       ["ZRANGE", "room:a:archive", "+inf", "-inf", "BYSCORE", "REV"])
        XCTAssertEqual(words(.newestFiniteEntry(key: key)),
                       ["ZRANGE", "room:a:archive", "(+inf", "-inf", "BYSCORE", "REV", "LIMIT", "0", "1", "WITHSCORES"])
        XCTAssertEqual(words(.zcount(key: key, from: .inclusive(Score(scaled: 1_795_300_045_123, decimals: 3)), to: .belowPositiveInfinity)),
                       ["ZCOUNT", "room:a:archive", "1795300045.123", "(+inf"])
        XCTAssertEqual(String(decoding: Score(scaled: -1500, decimals: 3).text, as: UTF8.self), "-1.500")
        XCTAssertEqual(String(decoding: Score(exactly: Array("1.5e+16".utf8)).text, as: UTF8.self), "1.5e+16")
    }

    func testKeysListsPubSubAndServer() {
        XCTAssertEqual(words(.scan(cursor: ScanPage.start, match: Array("room:*".utf8))), ["SCAN", "0", "MATCH", "room:*", "COUNT", "1000"])
        XCTAssertEqual(words(.lrange(key: Array("l".utf8), start: -10, stop: -1)), ["LRANGE", "l", "-10", "-1"])
        XCTAssertEqual(words(.pubsubNumsub(channels: [Array("a".utf8), Array("b".utf8)])), ["PUBSUB", "NUMSUB", "a", "b"])
        XCTAssertEqual(words(.auth(user: nil, password: "p")), ["AUTH", "p"])
        XCTAssertEqual(words(.auth(user: "u", password: "p")), ["AUTH", "u", "p"])
        XCTAssertEqual(words(.zremRangeByRank(key: Array("k".utf8), start: 0, stop: -11)), ["ZREMRANGEBYRANK", "k", "0", "-11"])
        XCTAssertEqual(words(.zrem(key: Array("k".utf8), member: Array("{\"id\":\"1\"}".utf8))), ["ZREM", "k", "{\"id\":\"1\"}"])
        XCTAssertEqual(words(.lrem(key: Array("l".utf8), count: -1, element: Array("hi".utf8))), ["LREM", "l", "-1", "hi"])
        var batch = CommandBatch()
        batch.add(.select(db: 3))
        XCTAssertEqual(batch.bytes, Array("*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n".utf8))
    }

    func testScanPages() throws {
        let page = try ScanPage(.array([.bulk(Array("17".utf8)), .array([.bulk(Array("k1".utf8)), .bulk(Array("k2".utf8))])]))
        XCTAssertEqual(page.keys, [Array("k1".utf8), Array("k2".utf8)])
        XCTAssertFalse(page.isLast)
        XCTAssertThrowsError(try ScanPage(.error("NOPERM no"))) { XCTAssertEqual($0 as? RedisError, .server("NOPERM no")) }
        XCTAssertThrowsError(try ScanPage(.integer(1)))
    }
}
