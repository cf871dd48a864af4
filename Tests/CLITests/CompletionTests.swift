import Foundation
import RedisFixture
import XCTest

/// The committed completions are what the parser generates, and they work.
final class CompletionTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testCommittedCompletionsMatchTheParser() throws {
        for (shell, file) in [("bash", "roomwarden.bash"), ("zsh", "_roomwarden"), ("fish", "roomwarden.fish")] {
            let generated = try roomwarden(["--generate-completion-script", shell])
            XCTAssertEqual(generated.status, 0)
            let committed = try String(contentsOf: Self.repo.appendingPathComponent("completions/\(file)"), encoding: .utf8)
            XCTAssertTrue(generated.text == committed,
                          "completions/\(file) differs from what the parser generates: run 'make completions' and commit")
        }
    }

    /// Completes the words in a real bash with the committed script loaded.
    private func complete(_ line: String) throws -> [String] {
        let script = Self.repo.appendingPathComponent("completions/roomwarden.bash").path
        let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let wordList = words.map { "'\($0)'" }.joined(separator: " ")
        let program = """
            source '\(script)'
            COMP_WORDS=(\(wordList)); COMP_CWORD=\(words.count - 1)
            COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}
            _roomwarden roomwarden '\(words.last ?? "")' '\(words.count > 1 ? words[words.count - 2] : "")'
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", program]
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = CLIProcess.binary.deletingLastPathComponent().path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    func testBashCompletesSubcommandsAndFormatValues() throws {
        XCTAssertEqual(try complete("roomwarden wa"), ["watch"])
        XCTAssertEqual(Set(try complete("roomwarden ")).isSuperset(of: ["watch", "publish", "history", "stats"]), true)
        let formats = try complete("roomwarden watch --format ")
        XCTAssertTrue(Set(formats).isSuperset(of: ["text", "json", "raw"]), "\(formats)")
        XCTAssertEqual(Set(try complete("roomwarden stats --sort ")), ["messages", "subscribers", "name", "last"])
        XCTAssertTrue(try complete("roomwarden history --sc").contains("--score-unit"))
    }
}
