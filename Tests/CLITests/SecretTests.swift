import Foundation
import Hiredis
import RedisFixture
import XCTest

/// Passwords: never in any output, whatever is wrong with the URL that
/// holds them; and the terminal's echo comes back whichever way the
/// --askpass prompt ends.
final class SecretTests: XCTestCase {
    func testNoPasswordFromAnyMalformedURLInAnyOutput() throws {
        for url in SecretURLs.all {
            for (args, env) in [(["-u", url], [String: String]()), ([], ["REDIS_URL": url])] {
                let r = try roomwarden(["publish", "room:secret", "hi", "--connect-timeout", "1s"] + args, environment: env, timeout: 20)
                XCTAssertNotEqual(r.status, 0, url)
                XCTAssertFalse(r.stderr.contains(SecretURLs.password), "\(url): \(r.stderr)")
                XCTAssertFalse(r.text.contains(SecretURLs.password), "\(url): \(r.text)")
            }
        }
    }

    func testEmptyURLPasswordIsNoPassword() throws {
        let room = freshRoom()
        let r = try roomwarden(["publish", room, "hi", "-u", "redis://:@127.0.0.1:\(server.port)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", "no warning about a visible password: there is none")
    }

    /// Runs `roomwarden stats --askpass` on a pseudo-terminal (python3's pty
    /// module), does `action` at the prompt, and reports the exit status and
    /// whether the terminal echoed during the prompt and after.
    func askpass(_ action: String) throws -> [String] {
        // A session leader on the pty runs roomwarden as its foreground job,
        // as a shell with job control does (so that Ctrl-Z can stop it).
        let leader = """
            import fcntl, os, signal, sys, termios
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            pid = os.fork()
            if pid == 0:
                os.setpgid(0, 0)
                os.tcsetpgrp(0, os.getpid())
                signal.signal(signal.SIGTTOU, signal.SIG_DFL)
                os.execv(sys.argv[1], sys.argv[1:])
            try: os.setpgid(pid, pid)
            except OSError: pass
            open(os.environ["PIDFILE"], "w").write(str(pid))
            while True:
                _, st = os.waitpid(pid, os.WUNTRACED)
                if os.WIFSTOPPED(st): continue
                sys.exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
            """
        let script = """
            import os, select, signal, subprocess, sys, termios, time
            master, slave = os.openpty()
            p = subprocess.Popen([sys.executable, os.environ["LEADER"]] + sys.argv[1:], stdin=slave, stdout=slave, stderr=slave)
            seen = b""
            def read_for(seconds, until=None):
                global seen
                end = time.time() + seconds
                while time.time() < end and (until is None or until not in seen):
                    r, _, _ = select.select([master], [], [], 0.05)
                    if r:
                        try: seen += os.read(master, 4096)
                        except OSError: return
            def echo():
                return "echo" if termios.tcgetattr(slave)[3] & termios.ECHO else "noecho"
            read_for(10, b"Password: ")
            child = int(open(os.environ["PIDFILE"]).read())
            during = echo()
            stopped = "-"
            action = os.environ["ACTION"]
            if action == "ctrl-c":
                os.write(master, b"\\x03")
            elif action == "ctrl-z":
                os.write(master, b"\\x1a")
                end = time.time() + 5
                while time.time() < end and open("/proc/%d/stat" % child).read().split(") ")[1][0] != "T":
                    time.sleep(0.02)
                stopped = echo()
                os.kill(child, signal.SIGCONT)
                time.sleep(0.3)
                stopped += "," + echo()
                os.kill(child, signal.SIGTERM)
            else:
                os.kill(child, getattr(signal, action))
            try: status = p.wait(timeout=10)
            except subprocess.TimeoutExpired: p.kill(); status = "hung"
            read_for(0.2)
            print(status, during, echo(), stopped)
            """
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("askpass-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("pty.py")
        try script.write(to: file, atomically: true, encoding: .utf8)
        try leader.write(to: dir.appendingPathComponent("leader.py"), atomically: true, encoding: .utf8)
        let r = try bash("ACTION=\(action) LEADER='\(dir.path)/leader.py' PIDFILE='\(dir.path)/pid' python3 '\(file.path)' "
                         + "'\(CLIProcess.binary.path)' stats --askpass -s '\(server.socketPath)'")
        XCTAssertTrue(r.finished)
        return r.stdout.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func testInterruptedAskpassRestoresTheTerminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else { throw XCTSkip("python3 missing") }
        for (action, status) in [("ctrl-c", "130"), ("SIGTERM", "143"), ("SIGHUP", "129"), ("SIGQUIT", "131")] {
            let r = try askpass(action)
            XCTAssertEqual(r.count, 4, "\(action): \(r)")
            guard r.count == 4 else { continue }
            XCTAssertEqual(r[0], status, action)
            XCTAssertEqual(r[1], "noecho", "\(action): the password is not echoed")
            XCTAssertEqual(r[2], "echo", "\(action): the terminal was left with echo off")
        }
        let z = try askpass("ctrl-z")
        XCTAssertEqual(z.count, 4, "\(z)")
        if z.count == 4 {
            XCTAssertEqual(z[3], "echo,noecho", "echo on while stopped, off again at the prompt on resume")
            XCTAssertEqual(z[2], "echo")
        }
    }
}
