import Foundation
import RoomWardenKit
import XCTest

/// What --grep says about an expression the engine refuses.
final class RegexProblemTests: XCTestCase {
    func testSaysWhatIsWrong() {
        let cases: [(String, String)] = [
            ("(", "unmatched ( at character 1"),
            ("a(b(c)", "unmatched ( at character 2"),
            ("ab)", "unmatched ) at character 3"),
            ("[abc", "unclosed [ at character 1"),
            ("x[^]", "unclosed [ at character 2"),
            ("*abc", "nothing to repeat before * at character 1"),
            ("a|+b", "nothing to repeat before + at character 3"),
            ("(?b", "unmatched ( at character 1"),
            ("a**", "nothing to repeat before * at character 3"),
            ("abc\\", "lone \\"),
            ("[z-a]", "the range z-a at character 2 runs backwards"),
            ("a{3,1}", "minimum above its maximum"),
            ("a{2", "unclosed { at character 2"),
            ("a{1,x}", "bad repeat count {1,x}"),
        ]
        for (pattern, says) in cases {
            XCTAssertThrowsError(try NSRegularExpression(pattern: pattern), "the engine refuses \(pattern)")
            XCTAssertTrue(RegexProblem.describe(pattern).contains(says), "\(pattern): \(RegexProblem.describe(pattern))")
        }
    }

    func testValidExpressionsHaveNoNamedProblem() {
        for pattern in ["a*?b+?c??", "a*+", "(?:x|y)+", "(?i)abc", "[]a]", "[a-z0-9_]+", "\\(\\)", "x{2}", "x{2,}", "x{2,5}?", "[[:alpha:]]+", "^$"] {
            XCTAssertNoThrow(try NSRegularExpression(pattern: pattern), pattern)
            XCTAssertEqual(RegexProblem.describe(pattern), "check its parentheses, brackets, braces and backslashes", pattern)
        }
    }
}
