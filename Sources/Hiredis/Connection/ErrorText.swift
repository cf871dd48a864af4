/// hiredis keeps its error messages in fixed `char errstr[128]` arrays
/// (in `redisContext` and `redisReader`); this reads one as text.
enum ErrorText {
    /// The text of a fixed-size C char array, up to its first NUL.
    static func of<Fixed>(_ errstr: Fixed) -> String {
        withUnsafeBytes(of: errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
