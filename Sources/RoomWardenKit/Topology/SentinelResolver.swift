import Hiredis

/// Finds the current master through the sentinels: asks them in turn
/// (`SENTINEL get-master-addr-by-name`), skipping those that do not answer,
/// and confirms with `ROLE` on the master itself that it is one.
///
/// The sentinel that answered is asked first next time. Not thread-safe.
public final class SentinelResolver {
    /// The sentinels and the master's name.
    public private(set) var settings: SentinelSettings

    /// A resolver for these sentinels.
    public init(settings: SentinelSettings) {
        self.settings = settings
    }

    /// Asks the sentinels, in turn, where the master is. 69 naming every
    /// sentinel tried when none answers (or none knows the name); 77 when
    /// the sentinels that answered refused the credentials.
    public func askMaster() throws(RoomWardenError) -> Endpoint {
        var tried: [String] = []
        var denied: RoomWardenError?
        var unknown: [String] = []
        for (index, sentinel) in settings.sentinels.enumerated() {
            do {
                let conn = try settings.connect(to: sentinel)
                let reply = try conn.command("SENTINEL", "get-master-addr-by-name", settings.masterName)
                if let line = reply.errorMessage {
                    let code = line.prefix { $0 != " " }
                    if code == "NOPERM" || code == "NOAUTH" || code == "WRONGPASS" {
                        denied = .denied("the sentinel at \(sentinel) refused to name the master: \(line); check sentinel_user and sentinel_password")
                    } else {
                        tried.append("\(sentinel) (\(line))")
                    }
                    continue
                }
                guard let pair = reply.elements, pair.count >= 2, let host = pair[0].string,
                      let port = pair[1].string.flatMap({ Int($0) }), (1...65535).contains(port) else {
                    unknown.append(sentinel.description)
                    continue
                }
                if index > 0 {
                    settings.sentinels.remove(at: index)
                    settings.sentinels.insert(sentinel, at: 0)
                }
                return .tcp(host: host, port: port)
            } catch let error as RoomWardenError {
                if error.exitCode == 77 { denied = error; continue }
                tried.append("\(sentinel) (\(SentinelResolver.detail(error.message)))")
            } catch let error as RedisError {
                tried.append("\(sentinel) (\(SentinelSettings.reason(error)))")
            } catch {
                tried.append("\(sentinel) (\(error))")
            }
        }
        if let denied { throw denied }
        if !unknown.isEmpty {
            throw .unreachable(
                "no sentinel knows a master named '\(settings.masterName)' (asked \(unknown.joined(separator: ", "))\(tried.isEmpty ? "" : "; unreachable: " + tried.joined(separator: ", "))); check the name after '#' in the URL or --master")
        }
        throw .unreachable(
            "no Redis Sentinel could be reached for master '\(settings.masterName)': tried \(tried.joined(separator: ", ")); check that the sentinels are up and their addresses (the URL's hosts or --sentinel)")
    }

    /// Asks `sentinel` last from now on (it fell silent).
    public func askLast(_ sentinel: Endpoint) {
        guard settings.sentinels.count > 1, let index = settings.sentinels.firstIndex(of: sentinel) else { return }
        settings.sentinels.append(settings.sentinels.remove(at: index))
    }

    /// The message after "could not reach the sentinel at X: ".
    private static func detail(_ message: String) -> String {
        guard let r = message.firstRange(of: ": ") else { return message }
        return String(message[r.upperBound...])
    }

    /// What a node said when asked whether it is the master.
    public enum RoleCheck: Equatable, Sendable {
        /// `ROLE` says master.
        case master
        /// `ROLE` says something else (`slave`, `sentinel`).
        case notMaster(String)
        /// `ROLE` may not be run (ACL, renamed command): taken on trust.
        case unconfirmed(String)
    }

    /// Asks `connection` for its `ROLE`.
    public static func checkRole(_ connection: Connection) throws(RedisError) -> RoleCheck {
        let reply = try connection.command("ROLE")
        if let line = reply.errorMessage { return .unconfirmed(line) }
        guard let role = reply.elements?.first?.string else { return .unconfirmed("unexpected ROLE reply") }
        return role == "master" ? .master : .notMaster(role)
    }

    /// Finds the master and connects to it with `connect` (the data node's
    /// credentials), confirming with `ROLE`. While the sentinels name a
    /// node that cannot be reached or is not (yet) the master, which is
    /// what they do for a moment during a failover, it asks again with
    /// backoff until `budget` runs out. Sentinels that cannot be reached
    /// end it at once (69) unless `retrySentinels`.
    public func resolveMaster(
        connect: ClusterTopology.Connect, budget: inout RetryBudget, retrySentinels: Bool = false
    ) throws(RoomWardenError) -> (master: Endpoint, connection: Connection) {
        var last = ""
        while true {
            let master: Endpoint
            do {
                master = try askMaster()
            } catch {
                guard retrySentinels, error.exitCode == 69 else { throw error }
                last = error.message
                guard budget.wait() else { throw error }
                continue
            }
            do {
                let conn = try connect(master)
                switch try SentinelResolver.checkRole(conn) {
                case .master, .unconfirmed:
                    return (master, conn)
                case .notMaster(let role):
                    last = "the sentinels name \(master) as master '\(settings.masterName)' but its ROLE is \(role)"
                }
            } catch let error as RoomWardenError {
                if error.exitCode != 69 { throw error }
                last = "the sentinels name \(master) as master '\(settings.masterName)' but it cannot be reached: \(SentinelResolver.detail(error.message))"
            } catch {
                last = "the sentinels name \(master) as master '\(settings.masterName)' but the link failed: \(error)"
            }
            guard budget.wait() else {
                throw .unreachable("\(last), still after \(budget.totalDescription); check the sentinels (redis-cli -p 26379 sentinel master \(settings.masterName))")
            }
        }
    }
}

@available(*, unavailable)
extension SentinelResolver: Sendable {}
