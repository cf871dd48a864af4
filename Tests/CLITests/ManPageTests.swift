import Foundation
import RedisFixture
import RoomWardenKit
import XCTest

/// The man page (docs/roomwarden.1, written by hand) says what the binary
/// does: every option of every --help, the real exit codes, every
/// environment variable the code reads; it renders without a warning and
/// builds to the same bytes for the same SOURCE_DATE_EPOCH.
final class ManPageTests: XCTestCase {
    static let repo = CompletionTests.repo
    static let page = repo.appendingPathComponent("docs/roomwarden.1")

    private func source() throws -> String { try String(contentsOf: Self.page, encoding: .utf8) }

    /// The flags documented with `.It Fl ...` in each `.Ss` subsection,
    /// keyed by the subsection's first word, lowercased (`watch`,
    /// `connection`, ...).
    private func manFlags() throws -> [String: Set<String>] {
        var flags: [String: Set<String>] = [:]
        var section: String?
        for line in try source().split(separator: "\n") {
            if line.hasPrefix(".Sh ") { section = nil }
            if line.hasPrefix(".Ss ") { section = line.dropFirst(4).split(separator: " ").first.map { $0.lowercased() } }
            guard let section, line.hasPrefix(".It Fl ") else { continue }
            let words = line.split(separator: " ").map(String.init)
            for (i, w) in words.enumerated() where w == "Fl" && i + 1 < words.count {
                flags[section, default: []].insert("-" + words[i + 1].replacingOccurrences(of: "\\-", with: "-"))
            }
        }
        return flags
    }

    /// The flags of `roomwarden SUB --help`, by heading (`OPTIONS`,
    /// `CONNECTION`, ...), without --help and --version.
    private func helpFlags(_ sub: String) throws -> [String: Set<String>] {
        let r = try roomwarden([sub, "--help"])
        XCTAssertEqual(r.status, 0)
        var flags: [String: Set<String>] = [:]
        var heading = ""
        for line in r.text.split(separator: "\n") {
            if let first = line.first, first.isUppercase, line.hasSuffix(":") { heading = String(line.dropLast()) }
            guard line.hasPrefix("  -") else { continue }
            for word in line.split(separator: " ") {
                guard word.hasPrefix("-") else { break }
                let flag = word.hasSuffix(",") ? String(word.dropLast()) : String(word)
                if flag != "--help" && flag != "--version" { flags[heading, default: []].insert(flag) }
            }
        }
        return flags
    }

    func testEveryHelpOptionIsInTheManPageAndNothingElse() throws {
        let man = try manFlags()
        var covered = Set<String>()
        for sub in ["watch", "publish", "history", "stats"] {
            for (heading, flags) in try helpFlags(sub) {
                let section = heading == "OPTIONS" ? sub : heading.lowercased()
                covered.insert(section)
                let documented = man[section] ?? []
                XCTAssertEqual(documented, flags,
                               "man page section '\(section)' vs 'roomwarden \(sub) --help' \(heading): missing \(flags.subtracting(documented).sorted()), not in --help \(documented.subtracting(flags).sorted()); edit docs/roomwarden.1")
            }
        }
        XCTAssertEqual(Set(man.keys).subtracting(covered), [], "man page sections with options no command has")
    }

    func testExitStatusListsTheRealCodes() throws {
        let text = try source()
        guard let start = text.range(of: ".Sh EXIT STATUS\n"), let end = text.range(of: "\n.Sh ", range: start.upperBound..<text.endIndex) else {
            return XCTFail("no EXIT STATUS section")
        }
        var codes = Set<Int32>()
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix(".It ") {
            for word in line.dropFirst(4).split(separator: " ") { if let n = Int32(word) { codes.insert(n) } }
        }
        let real: Set<Int32> = [0, RoomWardenError.failure("").exitCode, RoomWardenError.usage("").exitCode,
                                RoomWardenError.data("").exitCode, RoomWardenError.unreachable("").exitCode,
                                RoomWardenError.denied("").exitCode, 128 + SIGINT, 128 + SIGTERM]
        XCTAssertEqual(codes, real)
    }

    /// Every variable the code reads (Environment()["X"], env["X"], getenv("X"))
    /// and the ones the contract names are under ENVIRONMENT.
    func testEnvironmentNamesEveryVariableTheCodeReads() throws {
        let text = try source()
        guard let start = text.range(of: ".Sh ENVIRONMENT\n"), let end = text.range(of: "\n.Sh ", range: start.upperBound..<text.endIndex) else {
            return XCTFail("no ENVIRONMENT section")
        }
        let documented = Set(text[start.upperBound..<end.lowerBound].split(separator: "\n")
            .filter { $0.hasPrefix(".It Ev ") }.map { String($0.dropFirst(7)) })
        var read: Set<String> = ["REDIS_URL", "REDISCLI_AUTH", "ROOMWARDEN_ARCHIVE_KEY", "ROOMWARDEN_BACKLOG_KEY", "NO_COLOR", "TZ"]
        let pattern = try NSRegularExpression(pattern: #"(?:environment|env|Environment\(\))\["([A-Z_]+)"\]|getenv\("([A-Z_]+)"\)"#)
        for (_, code) in try swiftSources() {
            for m in pattern.matches(in: code, range: NSRange(code.startIndex..., in: code)) {
                for g in 1...2 where m.range(at: g).location != NSNotFound {
                    if let r = Range(m.range(at: g), in: code) { read.insert(String(code[r])) }
                }
            }
        }
        XCTAssertEqual(read.subtracting(documented), [], "read by the code or named by the contract, missing from ENVIRONMENT in docs/roomwarden.1")
    }

    func testRendersWithoutWarnings() throws {
        let r = try bash("MANWIDTH=80 man --warnings -l '\(Self.page.path)' 2>&1 >/dev/null; echo \"exit $?\"")
        XCTAssertEqual(r.stdout, "exit 0\n", "man --warnings printed: \(r.stdout)")
        let text = try bash("MANWIDTH=80 man -l '\(Self.page.path)' 2>/dev/null")
        for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "ENVIRONMENT", "EXAMPLES", "TLS"] {
            XCTAssertTrue(text.stdout.contains("\n\(heading)\n") || text.stdout.contains("\n   \(heading)\n"), "no \(heading) in the rendered page")
        }
        XCTAssertTrue(text.stdout.contains("jq -r"), "EXAMPLES has the jq one-liners")
        XCTAssertTrue(text.stdout.contains("*/10 * * * * roomwarden watch"), "EXAMPLES has the cron lines")
        XCTAssertTrue(text.stdout.contains("stunnel"), "the TLS recipe")
    }

    func testBuildIsReproducibleAndVersioned() throws {
        let build = Self.repo.appendingPathComponent("scripts/build-man").path
        let out = NSTemporaryDirectory() + "roomwarden-man-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out + ".a"); try? FileManager.default.removeItem(atPath: out + ".b") }
        let first = try bash("SOURCE_DATE_EPOCH=1795300045 '\(build)' '\(Self.page.path)' '\(out).a' && TZ=Pacific/Kiritimati SOURCE_DATE_EPOCH=1795300045 '\(build)' '\(Self.page.path)' '\(out).b' && cmp '\(out).a' '\(out).b' && grep '^\\.Dd' '\(out).a'")
        XCTAssertEqual(first.stdout, ".Dd November 21, 2026\n", first.stderr)
        let version = try roomwarden(["--version"]).text.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        XCTAssertTrue(try source().contains("\n.Os roomwarden \(version)\n"), "the page's .Os names version \(version)")
    }
}
