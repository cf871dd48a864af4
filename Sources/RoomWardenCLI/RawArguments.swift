import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import RoomWardenKit

/// A command that uses some of its arguments as bytes, not text.
protocol TakesRawBytes {
    /// The arguments (as parsed) whose bytes are used as given.
    var rawByteArguments: [String] { get }
}

/// The command line as the kernel gave it. Swift's `CommandLine.arguments`
/// replaces bytes that are not UTF-8 with U+FFFD, so `publish $'room:\xff'`
/// would publish to another channel. Here each such byte is carried through
/// the parser as a private-use scalar (U+10FF80 ... U+10FFFF for 0x80 ...
/// 0xFF) and turned back into the very byte where bytes are used.
enum RawArguments {
    /// Arguments after the program name, for the parser.
    static let strings: [String] = (1..<Int(CommandLine.argc)).map { i in
        guard let c = CommandLine.unsafeArgv[i] else { return "" }
        return escaped(Array(UnsafeBufferPointer(start: UnsafeRawPointer(c).assumingMemoryBound(to: UInt8.self), count: strlen(c))))
    }

    /// Some argument was not UTF-8 (and carries escapes).
    static let hasEscapes: Bool = (1..<Int(CommandLine.argc)).contains { i in
        guard let c = CommandLine.unsafeArgv[i] else { return false }
        return !UTF8Check.isValid(buffer: UnsafeRawBufferPointer(start: c, count: strlen(c)))
    }

    private static let base: UInt32 = 0x10_FF00

    /// Bytes as a String: valid UTF-8 as it is, each other byte as an escape.
    static func escaped(_ bytes: [UInt8]) -> String {
        if UTF8Check.isValid(bytes) { return String(decoding: bytes, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        bytes.withUnsafeBytes { p in
            var i = 0
            while i < p.count {
                let n = UTF8Check.sequenceLength(p, at: i)
                if n == 0 {
                    scalars.append(Unicode.Scalar(base + UInt32(p[i])) ?? "\u{FFFD}")
                    i += 1
                } else {
                    scalars.append(contentsOf: String(decoding: UnsafeRawBufferPointer(rebasing: p[i..<(i + n)]), as: UTF8.self).unicodeScalars)
                    i += n
                }
            }
        }
        return String(scalars)
    }

    /// True if `text` holds bytes that are not UTF-8 (an argument's escapes).
    static func isEscaped(_ text: String) -> Bool {
        hasEscapes && text.unicodeScalars.contains { $0.value >= base + 0x80 }
    }

    /// The bytes an argument stands for: escapes back to their bytes.
    static func bytes(_ text: String) -> [UInt8] {
        guard isEscaped(text) else { return Array(text.utf8) }
        var out: [UInt8] = []
        for s in text.unicodeScalars {
            if s.value >= base + 0x80 { out.append(UInt8(s.value - base)) } else { out.append(contentsOf: String(s).utf8) }
        }
        return out
    }

    /// An argument as a terminal shows it: each byte that is not UTF-8 as U+FFFD.
    static func shown(_ text: String) -> String {
        guard isEscaped(text) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0.value >= base + 0x80 ? "\u{FFFD}" : $0 }))
    }

    /// Refuses an argument that is not UTF-8 where it would be changed:
    /// only the arguments a command takes as bytes may be any bytes.
    static func checkTakenAsBytes(by command: ParsableCommand) throws {
        guard hasEscapes else { return }
        let taken = (command as? TakesRawBytes)?.rawByteArguments ?? []
        // Counted: the same bytes given as CHANNEL and as `--from` are refused for `--from`.
        for s in strings where isEscaped(s) && strings.count(where: { $0 == s }) > taken.count(where: { $0 == s }) {
            throw ValidationError("argument '\(shown(s))' is not valid UTF-8: only publish's CHANNEL and MESSAGE are taken as raw bytes")
        }
    }
}
