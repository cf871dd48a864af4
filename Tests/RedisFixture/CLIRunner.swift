import Foundation

/// What one run of the built `roomwarden` binary did, as a shell sees it.
public struct CLIResult {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: String
    /// stdout as text.
    public var text: String { String(decoding: stdout, as: UTF8.self) }
    /// stdout's lines.
    public var lines: [String] { text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }
}

/// Runs the built binary with arguments, an environment and stdin bytes.
public final class CLIProcess {
    public let process = Process()
    private let stdinPipe = Pipe()
    private let outPipe = Pipe()
    private let errPipe = Pipe()
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var out: [UInt8] = []
    private var err: [UInt8] = []

    /// The binary beside the test bundle (`.build/<config>/roomwarden`).
    public static var binary: URL {
        if let env = ProcessInfo.processInfo.environment["ROOMWARDEN_BIN"] { return URL(fileURLWithPath: env) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.pathExtension == "xctest" { dir.deleteLastPathComponent() }
        let candidate = dir.appendingPathComponent("roomwarden")
        if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("roomwarden")
    }

    /// Starts the binary. `environment` is added to a clean one (PATH, HOME only).
    public init(_ arguments: [String], environment: [String: String] = [:], readOutput: Bool = true) throws {
        process.executableURL = CLIProcess.binary
        process.arguments = arguments
        var env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                   "HOME": NSTemporaryDirectory()]
        env.merge(environment) { $1 }
        process.environment = env
        process.standardInput = stdinPipe
        process.standardOutput = outPipe
        process.standardError = errPipe
        try process.run()
        if readOutput { drain(outPipe.fileHandleForReading) { self.out.append(contentsOf: $0) } }
        drain(errPipe.fileHandleForReading) { self.err.append(contentsOf: $0) }
    }

    private func drain(_ handle: FileHandle, _ sink: @escaping ([UInt8]) -> Void) {
        group.enter()
        Thread.detachNewThread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                lock.lock(); sink([UInt8](d)); lock.unlock()
            }
            group.leave()
        }
    }

    /// The read end of stdout, for tests that read it themselves.
    public var stdoutHandle: FileHandle { outPipe.fileHandleForReading }

    /// Writes to the program's stdin.
    public func write(_ bytes: [UInt8]) { stdinPipe.fileHandleForWriting.write(Data(bytes)) }

    /// Closes the program's stdin.
    public func closeInput() { try? stdinPipe.fileHandleForWriting.close() }

    /// stdout so far.
    public var stdoutSoFar: [UInt8] { lock.lock(); defer { lock.unlock() }; return out }
    /// stderr so far.
    public var stderrSoFar: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }

    /// Sends a signal.
    public func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit (killing it after `timeout` seconds) and collects output.
    public func wait(timeout: TimeInterval = 30) -> CLIResult {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        group.wait()
        lock.lock(); defer { lock.unlock() }
        return CLIResult(status: process.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
    }

    /// Waits until stdout holds at least `count` lines, or `timeout` passes.
    @discardableResult
    public func waitForLines(_ count: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdoutSoFar.lazy.filter({ $0 == 0x0A }).count >= count { return true }
            usleep(5_000)
        }
        return false
    }

    /// Waits until stderr contains `text`, or `timeout` passes.
    @discardableResult
    public func waitForStderr(_ text: String, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderrSoFar.contains(text) { return true }
            usleep(5_000)
        }
        return false
    }
}

/// Runs the binary to completion with `stdin` bytes.
public func roomwarden(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:], timeout: TimeInterval = 30) throws -> CLIResult {
    let p = try CLIProcess(arguments, environment: environment)
    if !stdin.isEmpty { p.write(stdin) }
    p.closeInput()
    return p.wait(timeout: timeout)
}

/// Any program with stdin/stdout pipes (for script(1) giving a terminal).
public final class CLIProcessShell {
    private let process = Process()
    private let input = Pipe()
    private let outPipe = Pipe()
    private let lock = NSLock()
    private var collected: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    public init(_ argv: [String]) throws {
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardInput = input
        process.standardOutput = outPipe
        process.standardError = outPipe
        try process.run()
        let handle = outPipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let d = handle.availableData
                if d.isEmpty { break }
                lock.lock(); collected.append(contentsOf: d); lock.unlock()
            }
            done.signal()
        }
    }

    /// Everything printed so far (stdout and stderr).
    public var output: String { lock.lock(); defer { lock.unlock() }; return String(decoding: collected, as: UTF8.self) }

    public func waitFor(_ text: String, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if output.contains(text) { return true }; usleep(10_000) }
        return false
    }

    public func type(_ text: String) { input.fileHandleForWriting.write(Data(text.utf8)) }

    public func wait(timeout: TimeInterval = 20) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        _ = done.wait(timeout: .now() + 5)
        return process.terminationStatus
    }
}
