#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// Notices a reader that closed its end of a pipe even when no message
/// comes to be written (`watch | head -1` on a quiet server).
enum StdoutWatch {
    static func start(queue: WatchQueue) {
        var st = stat()
        guard fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK else { return }
        Threads.start(stackSize: 64 * 1024) {
            var pfd = pollfd(fd: 1, events: 0, revents: 0)
            while true {
                let r = poll(&pfd, 1, -1)
                if r > 0 && pfd.revents & Int16(POLLERR | POLLHUP) != 0 {
                    queue.finish(.stdoutClosed)
                    return
                }
                if r < 0 && errno != EINTR { return }
            }
        }
    }
}
