import Foundation
import RoomWardenKit
import XCTest

/// The `ts` of envelopes written by others: integers are milliseconds;
/// fractions and exponents are read as a score is with --score-unit auto.
final class EnvelopeTimestampTests: XCTestCase {
    func entry(_ json: String) -> ArchiveEntry {
        ArchiveEntry(member: Array(json.utf8), score: 42, unit: .auto, channel: Array("room:a".utf8))
    }

    func testFloatTimestampsAreEnvelopes() {
        // Python's time.time() (seconds) and time.time() * 1000 (milliseconds).
        var e = entry(#"{"ts":1795300045.123,"channel":"room:a","message":"from python"}"#)
        XCTAssertEqual(e.payload, Array("from python".utf8), "read as an envelope, not as raw JSON")
        XCTAssertEqual(e.ts, 1_795_300_045_123)
        e = entry(#"{"ts":1795300045123.4,"message":"ms"}"#)
        XCTAssertEqual(e.payload, Array("ms".utf8))
        XCTAssertEqual(e.ts, 1_795_300_045_123)
        e = entry(#"{"ts":1.795300045123e12,"message":"exp"}"#)
        XCTAssertEqual(e.ts, 1_795_300_045_123)
        e = entry(#"{"ts":1795300045123,"message":"int"}"#)
        XCTAssertEqual(e.ts, 1_795_300_045_123, "integers stay milliseconds")
    }

    func testNumbersThatAreNoTimeLeaveTheMemberRaw() {
        for raw in [#"{"ts":1e300,"message":"x"}"#, #"{"ts":-1e300,"message":"x"}"#, #"{"ts":1.,"message":"x"}"#,
                    #"{"ts":1e,"message":"x"}"#, #"{"ts":1234567890123456789,"message":"x"}"#, #"{"ts":-,"message":"x"}"#] {
            let e = entry(raw)
            XCTAssertEqual(e.payload, Array(raw.utf8), raw)
            XCTAssertNil(e.id)
        }
    }
}
