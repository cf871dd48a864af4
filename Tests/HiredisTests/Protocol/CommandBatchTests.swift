@testable import Hiredis
import XCTest

/// A batch's bytes are exactly what hiredis' own Argv formatting makes.
final class CommandBatchTests: XCTestCase {
    func testSameBytesAsHiredisArgv() {
        let commands: [[[UInt8]]] = [
            [Array("PING".utf8)],
            [Array("SET".utf8), [0x00, 0xFF, 0x0D, 0x0A], []],
            [Array("ZADD".utf8), Array("k".utf8), Array("1795300045123".utf8), Array(repeating: 0x41, count: 70_000)],
            (0..<12).map { Array("arg\($0)".utf8) },
        ]
        var batch = CommandBatch()
        var expected: [UInt8] = []
        for c in commands {
            batch.add(c)
            expected += Connection.hiredisFormat(c)
        }
        XCTAssertEqual(batch.count, 4)
        XCTAssertEqual(batch.bytes, expected)
    }

    func testIntegerArguments() {
        for v: Int64 in [0, 7, 10, -1, -1001, 1_795_300_045_123, .max, .min + 1] {
            var batch = CommandBatch()
            batch.begin(2)
            batch.argument("X")
            batch.argument(v)
            XCTAssertEqual(batch.bytes, Connection.hiredisFormat([Array("X".utf8), Array(String(v).utf8)]), "\(v)")
        }
    }
}
