#if canImport(Glibc)
import Glibc
#endif

/// Names the calling thread (what `top -H`, `ps -L` and gdb show, and how
/// a test finds the threads a watch started), through Linux's
/// `/proc/thread-self/comm`: Glibc's `pthread_setname_np` is not visible to
/// Swift. Best effort: nothing happens where /proc is missing.
enum ThreadName {
    /// At most 15 bytes are kept.
    static func set(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}
