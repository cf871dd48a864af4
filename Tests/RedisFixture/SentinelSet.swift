import Foundation
import Hiredis

/// A scratch Sentinel deployment on loopback: a master, one replica and
/// three sentinels (quorum 2), each a `RedisServer` with its own dir.
///
/// The sentinels are sped up for tests: `down-after-milliseconds` 1000 by
/// default, and `SENTINEL DEBUG INFO-PERIOD 1000 PUBLISH-PERIOD 500
/// TILT-PERIOD 5000` after every start, so they find each other, and
/// reconfigure a returning old master, within a second or two, and a
/// sentinel that was paused (which puts it in TILT mode) acts again after
/// 5 s instead of 30. Start it once per suite; every process
/// is killed at exit. Helpers that change the deployment return once it
/// has settled (`waitSettled`).
public final class SentinelSet {
    /// The name the sentinels monitor the master under.
    public let masterName: String
    /// The data nodes: [0] starts as master, [1] as its replica.
    public let dataNodes: [RedisServer]
    /// The sentinels.
    public let sentinels: [RedisServer]
    /// The data nodes' password (`requirepass`, `masterauth`, and the
    /// sentinels' `auth-pass`), if any.
    public let password: String?
    /// The sentinels' own password (`requirepass` on each sentinel), if any.
    public let sentinelPassword: String?

    /// Starts the master, the replica and three sentinels, and waits until
    /// every sentinel knows the master, the replica and the other sentinels.
    public init(
        masterName: String = "roomwarden", password: String? = nil, sentinelPassword: String? = nil,
        downAfterMilliseconds: Int = 1000, failoverTimeoutMilliseconds: Int = 4000, timeout: TimeInterval = 30
    ) throws {
        self.masterName = masterName
        self.password = password
        self.sentinelPassword = sentinelPassword
        var started: [RedisServer] = []
        do {
            let dataArguments = ["--repl-diskless-sync-delay", "0"] + (password.map { ["--masterauth", $0] } ?? [])
            let master = try RedisServer(extraArguments: dataArguments, password: password)
            started.append(master)
            started.append(try RedisServer(extraArguments: dataArguments + ["--replicaof", "127.0.0.1", String(master.port)], password: password))
            var configuration = """
                sentinel monitor \(masterName) 127.0.0.1 \(master.port) 2
                sentinel down-after-milliseconds \(masterName) \(downAfterMilliseconds)
                sentinel failover-timeout \(masterName) \(failoverTimeoutMilliseconds)
                sentinel parallel-syncs \(masterName) 1

                """
            if let password { configuration += "sentinel auth-pass \(masterName) \(password)\n" }
            if let sentinelPassword { configuration += "sentinel sentinel-pass \(sentinelPassword)\n" }
            var watchers: [RedisServer] = []
            for _ in 0..<3 {
                let sentinel = try RedisServer(mode: .sentinel(configuration: configuration), password: sentinelPassword)
                started.append(sentinel)
                watchers.append(sentinel)
                try SentinelSet.speedUp(sentinel)
            }
            dataNodes = Array(started[0..<2])
            sentinels = watchers
        } catch {
            for s in started { s.stop() }
            throw error
        }
        do {
            try waitSettled(timeout: timeout)
        } catch {
            for s in started { s.stop() }
            throw error
        }
    }

    /// Shortens the sentinel's polling periods and TILT mode (not kept in
    /// its config file: run after every start).
    private static func speedUp(_ sentinel: RedisServer) throws {
        try sentinel.run(timeout: .seconds(5), [
            "SENTINEL", "DEBUG", "INFO-PERIOD", "1000", "PUBLISH-PERIOD", "500", "TILT-PERIOD", "5000",
        ]).check()
    }

    // MARK: Looking

    /// The sentinels' ports.
    public var sentinelPorts: [Int] { sentinels.map(\.port) }

    /// `127.0.0.1:PORT` of every sentinel, for `--sentinel` flags or a
    /// `redis-sentinel://` URL.
    public var sentinelAddresses: [String] { sentinels.map { "127.0.0.1:\($0.port)" } }

    /// The master's port as a running sentinel reports it
    /// (`SENTINEL get-master-addr-by-name`); `sentinel` picks which one.
    public func masterPort(askingSentinel sentinel: Int? = nil) throws -> Int {
        let asked = try sentinel.map { sentinels[$0] } ?? anyRunningSentinel()
        let reply = try asked.run(timeout: .seconds(2), ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName])
        guard let parts = reply.elements, parts.count == 2, let text = parts[1].string, let port = Int(text) else {
            throw FixtureError("sentinel on port \(asked.port) does not know \(masterName): \(reply)")
        }
        return port
    }

    /// The data node the sentinels report as master.
    public func master() throws -> RedisServer {
        let port = try masterPort()
        guard let server = dataNodes.first(where: { $0.port == port }) else {
            throw FixtureError("the sentinels report a master on port \(port), not one of ours")
        }
        return server
    }

    /// The running (not paused) data nodes that are not the master.
    public func replicas() throws -> [RedisServer] {
        let port = try masterPort()
        return dataNodes.filter { $0.port != port && $0.isRunning && !$0.isPaused }
    }

    /// A fresh connection to sentinel `index`, authenticated; every read
    /// and write gives up after `timeout`.
    public func connectSentinel(_ index: Int, timeout: Duration = .seconds(5)) throws -> Connection {
        try sentinels[index].connectTCP(timeout: timeout)
    }

    /// A fresh TCP connection to the current master, authenticated.
    public func connectMaster(timeout: Duration? = nil) throws -> Connection {
        try master().connectTCP(timeout: timeout)
    }

    // MARK: Faults

    /// Asks a sentinel for a failover (`SENTINEL FAILOVER`), waits until
    /// every running sentinel reports the new master and its ROLE says
    /// master, then until the set has settled (the old master replicating
    /// from the new one). Returns the new master's port.
    @discardableResult
    public func failover(timeout: TimeInterval = 30) throws -> Int {
        let start = Date()
        let old = try masterPort()
        try waitFor("SENTINEL FAILOVER \(masterName) to be accepted", timeout: timeout, interval: 0.2) { seen in
            let reply = try anyRunningSentinel().run(timeout: .seconds(5), ["SENTINEL", "FAILOVER", masterName])
            seen = "\(reply)"
            return reply == .status("OK")
        }
        let new = try waitForNewMaster(replacing: old, timeout: timeout - Date().timeIntervalSince(start))
        try waitSettled(timeout: max(1, timeout - Date().timeIntervalSince(start)))
        return new
    }

    /// Crashes the master (SIGKILL), waits until the sentinels have promoted
    /// the replica (ROLE confirms) and the set has settled; returns the new
    /// master's port. The killed server stays in `dataNodes`; `restart(_:)`
    /// brings it back as a replica.
    @discardableResult
    public func kill9Master(timeout: TimeInterval = 30) throws -> Int {
        let start = Date()
        let old = try master()
        old.kill9()
        let new = try waitForNewMaster(replacing: old.port, timeout: timeout)
        try waitSettled(timeout: max(1, timeout - Date().timeIntervalSince(start)))
        return new
    }

    /// Starts a killed or stopped data node again and waits until the set
    /// has settled: the sentinels turn a returning old master into a
    /// replica of the current one.
    public func restart(_ dataNode: RedisServer, timeout: TimeInterval = 30) throws {
        try dataNode.start()
        try waitSettled(timeout: timeout)
    }

    /// Stops sentinel `index` (SHUTDOWN NOSAVE): clients that try it first
    /// find nothing listening.
    public func stopSentinel(_ index: Int) { sentinels[index].stop() }

    /// Starts sentinel `index` again (it keeps its rewritten config) and
    /// waits until it knows the current master.
    public func startSentinel(_ index: Int, timeout: TimeInterval = 30) throws {
        try sentinels[index].start()
        try SentinelSet.speedUp(sentinels[index])
        try waitSettled(timeout: timeout)
    }

    // MARK: Settling

    /// Brings back every killed data node, resumes every paused one and
    /// waits until the set is settled (whichever node is master now).
    public func revive() throws {
        for node in dataNodes {
            if node.isPaused { try node.resume() }
            if !node.isRunning { try restart(node) }
        }
        try waitSettled()
    }

    /// Waits until every running sentinel reports the same master, sees it
    /// healthy (flags just `master`), knows the other sentinels and sees
    /// every other running data node as a healthy replica of it; and until
    /// the master's ROLE says master and every other running data node
    /// replicates from it with its link up. Paused processes count as not
    /// running.
    public func waitSettled(timeout: TimeInterval = 30) throws {
        try waitFor("the sentinel set to settle", timeout: timeout, interval: 0.1) { seen in
            let running = sentinels.filter { $0.isRunning && !$0.isPaused }
            let liveData = dataNodes.filter { $0.isRunning && !$0.isPaused }
            guard !running.isEmpty else { seen = "no sentinel running"; return false }
            var reported: Set<Int> = []
            for sentinel in running { reported.insert(try masterPort(askingSentinel: sentinels.firstIndex { $0 === sentinel })) }
            guard reported.count == 1, let port = reported.first,
                  let master = liveData.first(where: { $0.port == port }) else {
                seen = "sentinels report masters \(reported.sorted())"
                return false
            }
            guard roleName(try master.run(timeout: .seconds(2), ["ROLE"])) == "master" else {
                seen = "port \(port) is not master yet"
                return false
            }
            let replicaPorts = liveData.filter { $0 !== master }.map(\.port)
            for node in liveData where node !== master {
                let info = infoFields(try node.run(timeout: .seconds(2), ["INFO", "replication"]))
                guard info["role"] == "slave", info["master_port"] == String(port), info["master_link_status"] == "up" else {
                    seen = "port \(node.port): role \(info["role"] ?? "?") of \(info["master_port"] ?? "-"), link \(info["master_link_status"] ?? "-")"
                    return false
                }
            }
            for sentinel in running {
                let state = pairs(try sentinel.run(timeout: .seconds(2), ["SENTINEL", "MASTER", masterName]))
                guard state["flags"] == "master", Int(state["port"] ?? "") == port,
                      Int(state["num-other-sentinels"] ?? "") ?? 0 >= sentinels.count - 1 else {
                    seen = "sentinel \(sentinel.port): flags \(state["flags"] ?? "?"), others \(state["num-other-sentinels"] ?? "?")"
                    return false
                }
                let known = (try sentinel.run(timeout: .seconds(2), ["SENTINEL", "REPLICAS", masterName]).elements ?? []).map(pairs)
                for replicaPort in replicaPorts {
                    guard let entry = known.first(where: { Int($0["port"] ?? "") == replicaPort }),
                          entry["flags"] == "slave", entry["master-link-status"] == "ok",
                          Int(entry["master-port"] ?? "") == port else {
                        seen = "sentinel \(sentinel.port) does not see \(replicaPort) as a healthy replica yet"
                        return false
                    }
                }
            }
            return true
        }
    }

    /// Waits until every running sentinel reports a master other than
    /// `old`, the same one, and its ROLE says master; returns its port.
    private func waitForNewMaster(replacing old: Int, timeout: TimeInterval) throws -> Int {
        var promoted = 0
        try waitFor("the sentinels to promote a new master in place of \(old)", timeout: max(1, timeout)) { seen in
            var reported: Set<Int> = []
            for i in sentinels.indices where sentinels[i].isRunning && !sentinels[i].isPaused { reported.insert(try masterPort(askingSentinel: i)) }
            seen = "sentinels report \(reported.sorted())"
            guard reported.count == 1, let port = reported.first, port != old,
                  let node = dataNodes.first(where: { $0.port == port }),
                  roleName(try node.run(timeout: .seconds(2), ["ROLE"])) == "master" else { return false }
            promoted = port
            return true
        }
        return promoted
    }

    private func anyRunningSentinel() throws -> RedisServer {
        guard let sentinel = sentinels.first(where: { $0.isRunning && !$0.isPaused }) else {
            throw FixtureError("no sentinel is running")
        }
        return sentinel
    }
}
