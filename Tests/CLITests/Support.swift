import Foundation
import Hiredis
import RedisFixture
import XCTest

/// One scratch server shared by the CLI suites of this process.
enum Shared {
    static let server: RedisServer = {
        do { return try RedisServer() } catch { fatalError("\(error)") }
    }()
}

extension XCTestCase {
    var server: RedisServer { Shared.server }

    /// Runs `roomwarden <args> -s <socket>`.
    func rw(_ args: [String], stdin: [UInt8] = [], env: [String: String] = [:], timeout: TimeInterval = 30) throws -> CLIResult {
        try roomwarden(args + server.socketArguments, stdin: stdin, environment: env, timeout: timeout)
    }

    /// A channel name no other test uses.
    func freshRoom(_ function: String = #function) -> String {
        "room:\(function.prefix { $0 != "(" })-\(UUID().uuidString.prefix(6))"
    }
}

/// Parses one line as strict JSON (Foundation's parser) into a dictionary.
func jsonObject(_ line: String) throws -> [String: Any] {
    let obj = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [])
    guard let dict = obj as? [String: Any] else { throw FixtureError("not an object: \(line)") }
    return dict
}

func nowMilliseconds() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// Runs a bash command line (a pipeline, as a user would type it) and
/// returns what it printed on stdout and stderr.
func bash(_ commandLine: String, timeout: TimeInterval = 60) throws -> (stdout: String, stderr: String, finished: Bool) {
    let shell = Process()
    shell.executableURL = URL(fileURLWithPath: "/bin/bash")
    shell.arguments = ["-c", commandLine]
    let out = Pipe(), err = Pipe()
    shell.standardOutput = out
    shell.standardError = err
    try shell.run()
    let deadline = Date().addingTimeInterval(timeout)
    while shell.isRunning && Date() < deadline { usleep(10_000) }
    let finished = !shell.isRunning
    if !finished { shell.terminate() }
    shell.waitUntilExit()
    return (String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), finished)
}
