#if canImport(Glibc)
import Glibc
#endif
import Hiredis

/// What this binary was built from and with, for `--version` and bug
/// reports (as `kcat -V` lists its librdkafka and features).
public enum BuildInfo {
    /// `hiredis 0.14.1; Swift 6.3, static runtime; release build for x86_64 Linux`.
    public static var summary: String {
        "hiredis \(HiredisLibrary.version); Swift \(swiftVersion), \(runtimeLinkage) runtime; \(configuration) build for \(architecture) \(system)"
    }

    /// The compiler's language version, major.minor.
    static var swiftVersion: String {
        #if compiler(>=6.5)
        return "6.5+"
        #elseif compiler(>=6.4)
        return "6.4"
        #elseif compiler(>=6.3)
        return "6.3"
        #elseif compiler(>=6.2)
        return "6.2"
        #elseif compiler(>=6.1)
        return "6.1"
        #else
        return "6.0"
        #endif
    }

    /// `static` when the Swift runtime is inside the binary (make release),
    /// `shared` when it is loaded from the toolchain's libswiftCore.so.
    static var runtimeLinkage: String {
        #if canImport(Glibc)
        if let handle = dlopen("libswiftCore.so", RTLD_NOW | RTLD_NOLOAD) {
            dlclose(handle)
            return "shared"
        }
        #endif
        return "static"
    }

    static var configuration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown-arch"
        #endif
    }

    static var system: String {
        #if os(Linux)
        return "Linux"
        #elseif os(macOS)
        return "macOS"
        #else
        return "unknown OS"
        #endif
    }
}
