#if canImport(Glibc)
import Glibc
#endif

/// The process environment, read variable by variable with getenv:
/// `Environment()["REDIS_URL"]`. Unlike Foundation's ProcessInfo it builds
/// no dictionary of every variable, which a one-shot command pays for at
/// each start.
public struct Environment {
    public init() {}

    /// The variable's value, nil when it is not set.
    public subscript(name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
