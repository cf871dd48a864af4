@testable import RoomWardenKit
import XCTest

/// The compact table that holds every room of a stats report.
final class RoomTableTests: XCTestCase {
    private func row(_ t: inout RoomTable, _ name: String) -> Int {
        Array(name.utf8).withUnsafeBytes { t.row(named: $0) }
    }

    func testOneRowPerNameThroughEveryGrowth() {
        var t = RoomTable(windowCount: 2)
        for pass in 0..<2 {
            for i in 0..<5_000 { XCTAssertEqual(row(&t, "room:\(i)"), i, "pass \(pass)") }
        }
        XCTAssertEqual(t.count, 5_000)
        XCTAssertEqual(row(&t, ""), 5_000, "an empty name is a name too")
        XCTAssertEqual(t.name(4_321), Array("room:4321".utf8))
    }

    func testUnknownFiguresStayNilAndKnownOnesRoundTrip() {
        var t = RoomTable(windowCount: 3)
        let i = row(&t, "room:a")
        XCTAssertEqual(t[i], RoomStats(channel: Array("room:a".utf8), windowCounts: [nil, nil, nil]))
        let full = RoomStats(channel: Array("room:a".utf8), subscribers: 0, archived: Int.max, windowCounts: [1, nil, 3],
                             lastTs: -5, sampled: 7, note: "list")
        t[i] = full
        XCTAssertEqual(t[i], full)
        t.addSubscribers(i, 2)
        t.addSubscribers(i, 3)
        XCTAssertEqual(t.subscribers(i), 5)
    }

    func testOrders() {
        let rooms = [RoomStats(channel: Array("room:b".utf8), subscribers: 1, archived: 5, windowCounts: [1], lastTs: 10),
                     RoomStats(channel: Array("room:a".utf8), subscribers: 3, archived: 2, windowCounts: [2], lastTs: nil),
                     RoomStats(channel: Array("room:ab".utf8), subscribers: nil, archived: nil, windowCounts: [nil], lastTs: 20)]
        let t = RoomTable(rooms, windowCount: 1)
        func names(_ sort: StatsSort, top: Int? = nil) -> [String] { sort.order(t, top: top).map { t[$0].name } }
        XCTAssertEqual(names(.name), ["room:a", "room:ab", "room:b"])
        XCTAssertEqual(names(.subscribers), ["room:a", "room:b", "room:ab"])
        XCTAssertEqual(names(.last), ["room:ab", "room:b", "room:a"])
        XCTAssertEqual(names(.messages), ["room:a", "room:b", "room:ab"])
        XCTAssertEqual(names(.messages, top: 1), ["room:a"])
    }
}
