import Foundation
import Hiredis
@testable import RoomWardenKit
import XCTest

/// Parsing CLUSTER SHARDS and CLUSTER SLOTS replies (as redis-server 7.0
/// sends them) into a map, and looking slots up in it.
final class ClusterMapTests: XCTestCase {
    private func bulk(_ s: String) -> Reply { .bulk(Array(s.utf8)) }

    private func node(_ id: String, _ port: Int64, role: String, health: String, ip: String = "127.0.0.1", endpoint: String? = nil) -> Reply {
        .array([bulk("id"), bulk(id), bulk("port"), .integer(port), bulk("ip"), bulk(ip),
                bulk("endpoint"), bulk(endpoint ?? ip), bulk("role"), bulk(role),
                bulk("replication-offset"), .integer(0), bulk("health"), bulk(health)])
    }

    private func shard(_ slots: [Int64], _ nodes: [Reply]) -> Reply {
        .array([bulk("slots"), .array(slots.map { .integer($0) }), bulk("nodes"), .array(nodes)])
    }

    /// Three primaries, one replica, one failed primary left without slots.
    private var shardsReply: Reply {
        .array([
            shard([0, 5460], [node("aaaa1111", 7001, role: "master", health: "online"), node("dddd4444", 7004, role: "replica", health: "online")]),
            shard([5461, 10000, 10001, 10922], [node("bbbb2222", 7002, role: "master", health: "online")]),
            shard([10923, 16383], [node("cccc3333", 7003, role: "master", health: "online", endpoint: "?")]),
            shard([], [node("eeee5555", 7005, role: "master", health: "fail")]),
        ])
    }

    func testParseShards() throws {
        let map = try ClusterMap.parse(shards: shardsReply, defaultHost: "10.0.0.9")
        XCTAssertEqual(map.shards.count, 4)
        XCTAssertEqual(map.primaries.map(\.endpoint), [7001, 7002, 7003].map { .tcp(host: "127.0.0.1", port: $0) })
        XCTAssertEqual(map.shards[1].slots, [5461...10922], "touching ranges are joined")
        XCTAssertEqual(map.shards[0].replicas.map(\.id), ["dddd4444"])
        XCTAssertEqual(map.shards[0].replicas.first?.role, .replica)
        XCTAssertEqual(map.shards[3].primary?.health, .failed)
        XCTAssertEqual(map.nodes.count, 5)
        XCTAssertEqual(map.owner(ofSlot: 0)?.id, "aaaa1111")
        XCTAssertEqual(map.owner(ofSlot: 5460)?.id, "aaaa1111")
        XCTAssertEqual(map.owner(ofSlot: 5461)?.id, "bbbb2222")
        XCTAssertEqual(map.owner(ofSlot: 16383)?.id, "cccc3333")
        XCTAssertNil(map.owner(ofSlot: 16384))
        XCTAssertNil(map.owner(ofSlot: -1))
        XCTAssertEqual(map.owner(ofKey: "foo")?.id, "cccc3333")   // slot 12182
        XCTAssertTrue(map.unservedSlots.isEmpty)
        XCTAssertEqual(map.shards[0].slotsDescription, "0-5460")
        XCTAssertEqual(map.shards[0].slotCount, 5461)
    }

    func testEndpointFallsBackToIPThenToTheReplyingHost() throws {
        let reply = Reply.array([
            shard([0, 16383], [node("a", 7001, role: "master", health: "online", ip: "10.0.0.1", endpoint: "?"),
                               node("b", 7002, role: "replica", health: "loading", ip: "", endpoint: "")]),
        ])
        let map = try ClusterMap.parse(shards: reply, defaultHost: "seed.example")
        XCTAssertEqual(map.shards[0].primary?.endpoint, .tcp(host: "10.0.0.1", port: 7001))
        XCTAssertEqual(map.shards[0].replicas.first?.endpoint, .tcp(host: "seed.example", port: 7002))
        XCTAssertEqual(map.shards[0].replicas.first?.health, .loading)
    }

    func testParseSlotsGroupsRangesByPrimary() throws {
        func n(_ host: String, _ port: Int64, _ id: String) -> Reply { .array([bulk(host), .integer(port), bulk(id), .array([])]) }
        let reply = Reply.array([
            .array([.integer(0), .integer(100), n("127.0.0.1", 7001, "a"), n("127.0.0.1", 7004, "d")]),
            .array([.integer(101), .integer(16000), n("127.0.0.1", 7002, "b")]),
            .array([.integer(16001), .integer(16383), n("127.0.0.1", 7001, "a"), n("127.0.0.1", 7004, "d")]),
        ])
        let map = try ClusterMap.parse(slots: reply, defaultHost: "x")
        XCTAssertEqual(map.shards.count, 2)
        XCTAssertEqual(map.shards[0].slots, [0...100, 16001...16383])
        XCTAssertEqual(map.shards[0].replicas.map(\.id), ["d"])
        XCTAssertEqual(map.shards[0].slotsDescription, "0-100,16001-16383")
        XCTAssertEqual(map.owner(ofSlot: 16383)?.id, "a")
        XCTAssertEqual(map.owner(ofSlot: 200)?.id, "b")
        XCTAssertEqual(map.shards[0].primary?.health, .unknown)
    }

    func testMalformedRepliesAreErrors() {
        XCTAssertThrowsError(try ClusterMap.parse(shards: .integer(1), defaultHost: "h"))
        XCTAssertThrowsError(try ClusterMap.parse(shards: .array([.array([bulk("slots")])]), defaultHost: "h"))
        XCTAssertThrowsError(try ClusterMap.parse(slots: .array([.array([.integer(1)])]), defaultHost: "h"))
        XCTAssertThrowsError(try ClusterMap.parse(slots: .error("ERR This instance has cluster support disabled"), defaultHost: "h")) { e in
            XCTAssertEqual(e as? RedisError, .server("ERR This instance has cluster support disabled"))
        }
    }

    func testMoveOneSlot() throws {
        var map = try ClusterMap.parse(shards: shardsReply, defaultHost: "h")
        map.move(slot: 100, to: .tcp(host: "127.0.0.1", port: 7002))
        XCTAssertEqual(map.owner(ofSlot: 100)?.id, "bbbb2222")
        XCTAssertEqual(map.shards[0].slots, [0...99, 101...5460])
        XCTAssertEqual(map.shards[1].slots, [100...100, 5461...10922])
        // A node the map does not know becomes a shard of its own.
        map.move(slot: 0, to: .tcp(host: "127.0.0.1", port: 7009))
        XCTAssertEqual(map.owner(ofSlot: 0)?.endpoint, .tcp(host: "127.0.0.1", port: 7009))
        XCTAssertEqual(map.owner(ofSlot: 0)?.id, "")
        XCTAssertEqual(map.shards[0].slots, [1...99, 101...5460])
    }

    func testUnservedSlots() {
        let map = ClusterMap(shards: [ClusterShard(slots: [10...20, 100...16383], primary: ClusterNode(id: "a", endpoint: .tcp(host: "h", port: 1), role: .primary))])
        XCTAssertEqual(map.unservedSlots, [0...9, 21...99])
        XCTAssertNil(map.owner(ofSlot: 50))
        XCTAssertEqual(ClusterShard.describe([1...1, 3...5]), "1,3-5")
        XCTAssertEqual(ClusterShard.describe([]), "none")
    }
}
