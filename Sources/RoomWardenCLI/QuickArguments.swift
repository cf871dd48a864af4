import ArgumentParser

/// A subcommand that can be read from a plain command line without
/// ArgumentParser's reflection, which costs 14 of a one-shot publish's 17.7
/// million instructions (its argument sets are built from Mirror several
/// times, each a scan of the binary's conformance records): with it a
/// one-shot publish takes 3.8 million, fewer than redis-cli's 8.
///
/// `quick` reads every option the command declares, by the same names, and
/// returns nil for anything it does not take plainly (help, version, an
/// unknown or repeated option, a value that does not parse or starts with
/// `-`, `--opt=` with nothing after the `=`, `-c=VALUE`, grouped short
/// flags, a command that does not validate): ArgumentParser
/// then reads the line as before and says what is wrong. So the quick path
/// only ever yields what ArgumentParser would have; QuickArgumentsTests checks
/// that for every option in each command's help.
protocol QuickParsable: ParsableCommand {
    static func quick(_ arguments: inout QuickArguments) -> Self?
}

enum QuickParse {
    /// The command `arguments` (without the program name) ask for, when
    /// they are plain enough to read without ArgumentParser.
    static func command(_ arguments: [String]) -> ParsableCommand? {
        guard let name = arguments.first else { return nil }
        var rest = QuickArguments(arguments.dropFirst())
        let command: (any QuickParsable)?
        switch name {
        case "publish": command = RoomWarden.Publish.quick(&rest)
        case "watch": command = RoomWarden.Watch.quick(&rest)
        case "history": command = RoomWarden.History.quick(&rest)
        case "stats": command = RoomWarden.Stats.quick(&rest)
        default: return nil
        }
        guard var command, rest.finish() else { return nil }
        do { try command.validate() } catch { return nil }
        return command
    }
}

/// One command line's arguments, read option by option: each `flag`,
/// `value` and `values` call finds its option's tokens wherever they are
/// (options and operands mix, as ArgumentParser allows), then `positional`
/// takes the operands left, in order. Anything not plain marks the line
/// refused.
struct QuickArguments {
    private let tokens: [String]
    private var used: [Bool]
    /// Tokens from here on are operands (`--` ends the options).
    private let optionsEnd: Int
    private var operands: [String]?
    private var nextOperand = 0
    private(set) var refused = false

    init(_ arguments: ArraySlice<String>) {
        tokens = Array(arguments)
        used = [Bool](repeating: false, count: tokens.count)
        optionsEnd = tokens.firstIndex(of: "--") ?? tokens.count
        if optionsEnd < tokens.count { used[optionsEnd] = true }
    }

    /// A flag given (once) by its long or short name.
    mutating func flag(_ long: String, short: Character? = nil) -> Bool {
        let found = find(long, short: short, joined: false)
        guard let index = found.first else { return false }
        if found.count > 1 || tokens[index].contains("=") { refused = true }
        return true
    }

    /// A single-valued option's value, converted as ArgumentParser does;
    /// nil when not given. `joined` allows `-p6380`.
    mutating func value<Value: ExpressibleByArgument>(_ long: String, short: Character? = nil, joined: Bool = false) -> Value? {
        let texts = values(long, short: short, joined: joined)
        guard let text = texts.first else { return nil }
        guard texts.count == 1, let value = Value(argument: text) else {
            refused = true
            return nil
        }
        return value
    }

    /// A repeatable option's values, in order.
    mutating func values(_ long: String, short: Character? = nil, joined: Bool = false) -> [String] {
        var texts: [String] = []
        for index in find(long, short: short, joined: joined) {
            let token = tokens[index]
            if token.hasPrefix("--") {
                if let equals = token.firstIndex(of: "=") {
                    // ArgumentParser reads `--from=` as `--from` with its
                    // value in the next argument.
                    let value = token[token.index(after: equals)...]
                    if value.isEmpty { refused = true }
                    texts.append(String(value))
                    continue
                }
            } else if token.count > 2 {
                // ArgumentParser reads `-c=VALUE` as `-c VALUE`: left to it.
                let value = token.dropFirst(2)
                if value.hasPrefix("=") { refused = true }
                texts.append(String(value))
                continue
            }
            let next = index + 1
            guard next < optionsEnd, !used[next], !tokens[next].hasPrefix("-") else {
                refused = true
                continue
            }
            used[next] = true
            texts.append(tokens[next])
        }
        return texts
    }

    /// The next operand, once every option has been read.
    mutating func positional() -> String? {
        let all = remainingOperands()
        guard nextOperand < all.count else { return nil }
        nextOperand += 1
        return all[nextOperand - 1]
    }

    /// Every operand not taken yet.
    mutating func positionals() -> [String] {
        let all = remainingOperands()
        defer { nextOperand = all.count }
        return Array(all[nextOperand...])
    }

    /// True when the whole line was taken plainly: no token left over.
    mutating func finish() -> Bool {
        !refused && nextOperand == remainingOperands().count
    }

    /// The tokens naming this option, marked used.
    private mutating func find(_ long: String, short: Character?, joined: Bool) -> [Int] {
        var found: [Int] = []
        let longName = "--" + long
        let shortName = short.map { "-" + String($0) }
        for index in 0..<optionsEnd where !used[index] {
            let token = tokens[index]
            let matches = token == longName || token.hasPrefix(longName + "=")
                || (shortName.map { token == $0 || (joined && token.hasPrefix($0) && token.count > 2) } ?? false)
            if matches {
                used[index] = true
                found.append(index)
            }
        }
        return found
    }

    /// The operands: unused tokens before `--` (any other that looks like
    /// an option refuses the line), then every token after it.
    private mutating func remainingOperands() -> [String] {
        if let operands { return operands }
        var list: [String] = []
        for index in 0..<optionsEnd where !used[index] {
            if tokens[index].hasPrefix("-") && tokens[index] != "-" { refused = true }
            list.append(tokens[index])
        }
        if optionsEnd < tokens.count { list += tokens[(optionsEnd + 1)...] }
        operands = list
        return list
    }
}
