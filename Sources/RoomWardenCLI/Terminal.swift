#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// Reading a secret from the controlling terminal with echo off.
enum Terminal {
    static func readSecret(prompt: String) throws(RoomWardenError) -> String {
        let fd = open("/dev/tty", O_RDWR)
        guard fd >= 0 else {
            throw .usage("--askpass needs a terminal (none here); use REDISCLI_AUTH in scripts")
        }
        defer { close(fd) }
        var saved = termios()
        let isTTY = tcgetattr(fd, &saved) == 0
        if isTTY {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var bytes: [UInt8] = []
        var c: UInt8 = 0
        while read(fd, &c, 1) == 1, c != 0x0A, c != 0x0D { bytes.append(c) }
        if isTTY { tcsetattr(fd, TCSAFLUSH, &saved) }
        _ = write(fd, "\n", 1)
        return String(decoding: bytes, as: UTF8.self)
    }
}
