#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// Reading a secret from the controlling terminal with echo off. The
/// terminal gets its settings back on every way out: the secret read, end
/// of input, an error, and the signals a user sends from the keyboard or a
/// shell (INT, QUIT, TERM, HUP exit 128+signal; TSTP stops with echo on
/// and turns it off again on resume).
enum Terminal {
    /// What the signal handlers need, in memory they can read without
    /// Swift's runtime: written before they are installed, valid until the
    /// process ends.
    private struct Prompt {
        var fd: Int32 = -1
        var saved = termios()
        var quiet = termios()
    }

    nonisolated(unsafe) private static let prompt: UnsafeMutablePointer<Prompt> = {
        let p = UnsafeMutablePointer<Prompt>.allocate(capacity: 1)
        p.initialize(to: Prompt())
        return p
    }()

    private static let exiting: [Int32] = [SIGINT, SIGQUIT, SIGTERM, SIGHUP]

    static func readSecret(prompt text: String) throws(RoomWardenError) -> String {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            throw .usage("--askpass needs a terminal (none here); use REDISCLI_AUTH in scripts")
        }
        defer { close(fd) }
        let state = prompt
        state.pointee.fd = -1
        let isTTY = tcgetattr(fd, &state.pointee.saved) == 0
        var previous: [Int32: sighandler_t?] = [:]
        if isTTY {
            state.pointee.quiet = state.pointee.saved
            state.pointee.quiet.c_lflag &= ~tcflag_t(ECHO)
            state.pointee.fd = fd
            for sig in exiting { previous[sig] = signal(sig, Terminal.restoreAndExit) }
            previous[SIGTSTP] = signal(SIGTSTP, Terminal.restoreAndStop)
            tcsetattr(fd, TCSAFLUSH, &state.pointee.quiet)
        }
        defer {
            if isTTY {
                tcsetattr(fd, TCSAFLUSH, &state.pointee.saved)
                state.pointee.fd = -1
                for (sig, handler) in previous { signal(sig, handler ?? SIG_DFL) }
            }
        }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(fd, &c, 1) == 1, c != 0x0A, c != 0x0D { bytes.append(c) }
        _ = write(fd, "\n", 1)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// INT, QUIT, TERM, HUP at the prompt: echo back on, then exit
    /// 128+signal. Runs in a signal handler: async-signal-safe calls only.
    private static let restoreAndExit: @convention(c) (Int32) -> Void = { sig in
        let state = Terminal.prompt
        if state.pointee.fd >= 0 {
            tcsetattr(state.pointee.fd, TCSAFLUSH, &state.pointee.saved)
            _ = write(state.pointee.fd, "\n", 1)
        }
        _exit(128 + sig)
    }

    /// TSTP (Ctrl-Z) at the prompt: echo back on while stopped, off again
    /// on resume. Runs in a signal handler: async-signal-safe calls only.
    private static let restoreAndStop: @convention(c) (Int32) -> Void = { _ in
        let state = Terminal.prompt
        let fd = state.pointee.fd
        if fd >= 0 { tcsetattr(fd, TCSAFLUSH, &state.pointee.saved) }
        signal(SIGTSTP, SIG_DFL)
        // TSTP is blocked while its handler runs: unblock it so that the
        // default action stops the process here, not after the handler.
        var tstp = sigset_t()
        sigemptyset(&tstp)
        sigaddset(&tstp, SIGTSTP)
        pthread_sigmask(SIG_UNBLOCK, &tstp, nil)
        raise(SIGTSTP)
        // Resumed.
        signal(SIGTSTP, Terminal.restoreAndStop)
        if fd >= 0 { tcsetattr(fd, TCSAFLUSH, &state.pointee.quiet) }
    }
}

extension Terminal {
    /// Asks a yes/no question on stderr and reads the answer from stdin
    /// (a terminal): true only for y or yes.
    static func confirm(_ question: String) -> Bool {
        let prompt = "roomwarden: \(question) [y/N] "
        _ = prompt.withCString { write(2, $0, strlen($0)) }
        guard let answer = readLine(strippingNewline: true) else { return false }
        let word = answer.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map { $0.lowercased() }
        return word == "y" || word == "yes"
    }
}
