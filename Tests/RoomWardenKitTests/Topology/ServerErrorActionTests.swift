import Foundation
import Hiredis
@testable import RoomWardenKit
import XCTest

/// Reading redirections and failover states from server error lines.
final class ServerErrorActionTests: XCTestCase {
    func testRedirections() {
        XCTAssertEqual(ServerErrorAction(errorLine: "MOVED 3999 127.0.0.1:6381"), .moved(slot: 3999, to: .tcp(host: "127.0.0.1", port: 6381)))
        XCTAssertEqual(ServerErrorAction(errorLine: "ASK 3999 10.0.0.2:7002"), .ask(slot: 3999, to: .tcp(host: "10.0.0.2", port: 7002)))
        XCTAssertEqual(ServerErrorAction(errorLine: "MOVED 12182 redis-2.example:6379"), .moved(slot: 12182, to: .tcp(host: "redis-2.example", port: 6379)))
        // An IPv6 address, written bare or in brackets.
        XCTAssertEqual(ServerErrorAction(errorLine: "MOVED 1 ::1:7000"), .moved(slot: 1, to: .tcp(host: "::1", port: 7000)))
        XCTAssertEqual(ServerErrorAction(errorLine: "MOVED 1 [::1]:7000"), .moved(slot: 1, to: .tcp(host: "::1", port: 7000)))
        // No host: the replying node's host.
        XCTAssertEqual(ServerErrorAction(errorLine: "MOVED 5 :6380", repliedBy: .tcp(host: "10.1.1.1", port: 6379)),
                       .moved(slot: 5, to: .tcp(host: "10.1.1.1", port: 6380)))
        XCTAssertEqual(ServerErrorAction(errorLine: "ASK 5 ?:6380", repliedBy: .tcp(host: "h", port: 1)),
                       .ask(slot: 5, to: .tcp(host: "h", port: 6380)))
    }

    func testFailoverStates() {
        XCTAssertEqual(ServerErrorAction(errorLine: "TRYAGAIN Multiple keys request during rehashing of slot"), .tryAgain)
        XCTAssertEqual(ServerErrorAction(errorLine: "CLUSTERDOWN The cluster is down"), .clusterDown)
        XCTAssertEqual(ServerErrorAction(errorLine: "CLUSTERDOWN Hash slot not served"), .clusterDown)
        XCTAssertEqual(ServerErrorAction(errorLine: "READONLY You can't write against a read only replica."), .readOnly)
        XCTAssertEqual(ServerErrorAction(errorLine: "LOADING Redis is loading the dataset in memory"), .loading)
        XCTAssertEqual(ServerErrorAction(errorLine: "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), .masterDown)
        XCTAssertEqual(ServerErrorAction(RedisError.server("CLUSTERDOWN The cluster is down")), .clusterDown)
        XCTAssertTrue(ServerErrorAction.readOnly.needsNewTopology)
        XCTAssertFalse(ServerErrorAction.tryAgain.needsNewTopology)
    }

    func testOtherErrorsAreTheCommandsOwn() {
        for line in ["WRONGTYPE Operation against a key holding the wrong kind of value", "NOPERM no", "ERR unknown command",
                     "EXECABORT Transaction discarded because of previous errors.", "MOVED", "MOVED x 1.2.3.4:5",
                     "MOVED 99999 h:1", "MOVED 1 h:0", "MOVED 1 nocolon", "", "moved 1 h:1"] {
            XCTAssertNil(ServerErrorAction(errorLine: line), line)
        }
        XCTAssertNil(ServerErrorAction(RedisError.closed))
    }
}
