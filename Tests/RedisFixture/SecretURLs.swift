/// Malformed and odd Redis URLs that each hold the same known password, for
/// tests that no output or error ever shows it.
public enum SecretURLs {
    /// The password every URL below holds.
    public static let password = "hunter2"

    public static let all: [String] = [
        "redis://user:hunter2/x@127.0.0.1:7100",
        "redis://user:pa/hunter2@127.0.0.1:7100/0",
        "redis://:hunter2?x@127.0.0.1:70000",
        "redis://:hunter2#x@127.0.0.1:0",
        "unix:///x?password=a&password=hunter2&db=x",
        "unix:///x?password=hunter2&db=x",
        "unix:///x?password=hunter2@x&db=y",
        "unix:///x?db=1&password=hunter2&bogus",
        "unix://:hunter2@relative.sock",
        "unix://u:hunter2@/x.sock?db=-1",
        "redis://:hunter2@host:notaport",
        "redis://:hunter2@[::1",
        "redis://:hunter2@[::1]x",
        "redis://:hunter2@127.0.0.1/notadb",
        "redis://:hunter2@127.0.0.1?db=x",
        "redis://:hunter2@127.0.0.1?bogus=1",
        "redis://127.0.0.1?password=hunter2&db=-1",
        "redis://127.0.0.1?sentinel_password=hunter2",
        "redis://127.0.0.1:0?password=hunter2",
        "redis://127.0.0.1:6379?password=hunter2&password",
        "redis://127.0.0.1:0?hunter2",
        "redis://user:hunter2@127.0.0.1:6379/1?db=2",
        "redis://:hunter2@@127.0.0.1:0",
        "redis://:p@ss:hunter2@127.0.0.1:99999",
        "redis://:hunter2%zz@127.0.0.1:0",
        "redis://:hunter2",
        "redis://user:hunter2",
        "redis://127.0.0.1/hunter2",
        "rediss://:hunter2@127.0.0.1",
        "http://:hunter2@127.0.0.1",
        "user:hunter2@127.0.0.1:6379",
        "redis:/user:hunter2@127.0.0.1",
        "redis-sentinel://:hunter2@127.0.0.1:0#master",
        " redis://:hunter2@127.0.0.1:0",
        "redis://:hunter2@127.0.0.1:0\n",
    ]
}
