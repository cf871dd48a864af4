#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// Notices a reader that closed its end of a pipe even when no message
/// comes to be written (`watch | head -1` on a quiet server). Its thread
/// returns when the watch ends.
enum StdoutWatch {
    static func start(queue: WatchQueue) {
        var st = stat()
        guard fstat(1, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFSOCK else { return }
        Threads.start(stackSize: 64 * 1024) {
            ThreadName.set("rw-stdout-watch")
            var fds = [pollfd(fd: 1, events: 0, revents: 0), pollfd(fd: queue.wakeDescriptor, events: Int16(POLLIN), revents: 0)]
            while queue.ended == nil {
                let r = poll(&fds, 2, queue.wakeDescriptor < 0 ? 1000 : -1)
                if r > 0 && fds[0].revents & Int16(POLLERR | POLLHUP) != 0 {
                    queue.finish(.stdoutClosed)
                    return
                }
                if r < 0 && errno != EINTR { return }
            }
        }
    }
}
