import RoomWardenKit
import XCTest

/// watch --grep speaks grep -E.
final class GrepFilterTests: XCTestCase {
    private func matches(_ pattern: String, _ payload: [UInt8], ignoreCase: Bool = false) throws -> Bool {
        let filter = try GrepFilter(pattern, ignoreCase: ignoreCase)
        return payload.withUnsafeBytes { filter.matches($0) }
    }

    func testExtendedSyntax() throws {
        XCTAssertTrue(try matches("refund|chargeback", Array("a chargeback, again".utf8)))
        XCTAssertTrue(try matches("^order [[:digit:]]{4}$", Array("order 1432".utf8)))
        XCTAssertFalse(try matches("^order [[:digit:]]{4}$", Array("order 14321".utf8)))
        XCTAssertTrue(try matches("(ab)+c", Array("xxababc".utf8)))
        XCTAssertTrue(try matches(#"\<deploy\>"#, Array("we deploy at 5".utf8)))
        XCTAssertFalse(try matches(#"\<deploy\>"#, Array("redeployed".utf8)))
        XCTAssertFalse(try matches("Refund", Array("refund".utf8)))
        XCTAssertTrue(try matches("Refund", Array("REFUND please".utf8), ignoreCase: true))
    }

    func testBackReferencesAreRefusedOutsideBracketsOnly() throws {
        for pattern in [#"(a)\1"#, #"x(.*)(.*)\2"#, #"[]]\1"#, #"[[:alpha:]]+(b)\1"#, #"\\\1"#] {
            XCTAssertThrowsError(try GrepFilter(pattern), pattern) { error in
                XCTAssertEqual((error as? RoomWardenError)?.exitCode, 64)
            }
        }
        XCTAssertTrue(try matches(#"[\1]"#, Array("a 1".utf8)), "a backslash in brackets is a character")
        XCTAssertTrue(try matches(#"[^]\2]x"#, Array("ax".utf8)))
        XCTAssertTrue(try matches(#"\\1"#, Array(#"a\1"#.utf8)), "an escaped backslash, then the digit")
    }

    func testBytesAndCharacters() throws {
        XCTAssertTrue(try matches("b$", [0x61, 0x00, 0x62]), "a NUL is a character, not the end")
        XCTAssertTrue(try matches("^caf.$", Array("café".utf8)), "in UTF-8, . is one character")
        XCTAssertTrue(try matches("^$", []))
        XCTAssertTrue(try matches("x", [0xFF, 0x78]), "invalid UTF-8 does not hide what follows")
    }

    func testBadPatternIsAUsageError() {
        XCTAssertThrowsError(try GrepFilter("(unclosed")) { error in
            let e = error as? RoomWardenError
            XCTAssertEqual(e?.exitCode, 64)
            XCTAssertTrue(e?.message.contains("grep -E") ?? false, "\(String(describing: e))")
        }
    }
}
