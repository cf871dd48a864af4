import Foundation
import RedisFixture
import XCTest

/// What keeps the shipped binary small and quick to start, checked in the
/// sources (scripts/check-portable and check-deb check the binary itself).
final class PackagingTests: XCTestCase {
    /// Foundation (and with it ICU) stays out: the code uses pthreads,
    /// getenv and regcomp instead.
    func testNoSourceImportsFoundation() throws {
        for (file, code) in try swiftSources() {
            for line in code.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count else { continue }
                XCTAssertFalse(["Foundation", "FoundationInternationalization", "FoundationNetworking"].contains(String(words[i + 1])),
                               "\(file.lastPathComponent): \(line): the shipped binary must not link Foundation or ICU")
            }
        }
    }
}

/// Every Swift file under Sources/, with its text.
func swiftSources() throws -> [(file: URL, code: String)] {
    let sources = CompletionTests.repo.appendingPathComponent("Sources")
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?
        .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
    guard !files.isEmpty else { throw FixtureError("no Swift sources under \(sources.path)") }
    return try files.map { ($0, try String(contentsOf: $0, encoding: .utf8)) }
}
