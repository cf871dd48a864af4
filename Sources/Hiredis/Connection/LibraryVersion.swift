internal import CHiredis

/// The hiredis this was compiled against (its header's version; the
/// shared library's soname pins the same major.minor).
public enum HiredisLibrary {
    /// `major.minor.patch`, e.g. `0.14.1`.
    public static let version = "\(HIREDIS_MAJOR).\(HIREDIS_MINOR).\(HIREDIS_PATCH)"
}
