#if canImport(Glibc)
import Glibc
#endif

/// The process's stdin, stdout and stderr. Started with one of them closed
/// (`>&-`, `<&-`, `2>&-`), the first file the process opens would take its
/// number, and a Redis connection on fd 1 would receive the output as
/// commands. Reopening the closed ones on /dev/null first, as coreutils and
/// OpenSSH do, makes that impossible.
public enum StandardDescriptors {
    /// Opens /dev/null on each of fds 0, 1, 2 that is closed. Call it
    /// first thing in `main`, before anything can open a file or socket.
    /// Returns false if one could not be reopened (then the process must
    /// not go on).
    @discardableResult
    public static func reopenClosed() -> Bool {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            // open() takes the lowest free number: this one, since the
            // lower ones are open by now.
            let opened = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY)
            if opened != fd {
                if opened >= 0 { close(opened) }
                return false
            }
        }
        return true
    }
}
