"""Helpers for scripts/bench.py: a scratch Redis Cluster, a loopback proxy
that counts a client's round trips, and the scale of the loads."""
import os, re, select, shutil, socket, subprocess, tempfile, threading, time

# BENCH_SCALE=0.01 runs every load at a hundredth of its size (development
# on a shared machine); the figures written are then not comparable.
SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def scaled(n, minimum=1):
    return max(minimum, int(n * SCALE))


def free_port(pair_offset=None):
    """A free loopback port; with `pair_offset`, one whose port + offset is
    free too (a cluster node's bus port) and below 65536."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if pair_offset is None:
            return port
        if port + pair_offset >= 65536:
            continue
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", port + pair_offset))
            return port
        except OSError:
            continue
        finally:
            t.close()
    raise SystemExit("no free port pair")


def cli(port, *args, **kw):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, **kw).stdout


def crc16(data):
    """CRC16/XMODEM, Redis Cluster's key hash."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def key_slot(key):
    """The cluster slot of `key`, {hash tags} honoured."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1:end]
    return crc16(data) % 16384


class Cluster:
    """A scratch Redis Cluster of `primaries` primaries (no replicas) on
    loopback, no persistence, in temp dirs; stopped and removed by stop()."""

    def __init__(self, primaries=3):
        self.dirs, self.procs, self.ports = [], [], []
        try:
            for _ in range(primaries):
                d = tempfile.mkdtemp(prefix="roomwarden-bench-cluster-")
                port = free_port(pair_offset=10000)
                self.procs.append(subprocess.Popen(
                    ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(d, "nodes.conf"),
                     "--cluster-node-timeout", "5000", "--dir", d, "--logfile", os.path.join(d, "log")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                self.dirs.append(d)
                self.ports.append(port)
            for port in self.ports:
                self._wait(lambda: cli(port, "PING").strip() == "PONG", "a cluster node did not start")
            subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                            "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, check=True, timeout=60)
            for port in self.ports:
                self._wait(lambda: "cluster_state:ok" in cli(port, "CLUSTER", "INFO"), "the cluster did not come up")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _wait(ready, message, limit=30.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        raise SystemExit(message)

    def owner(self, key):
        """The port of the primary that owns `key` (its slot computed here,
        the slots' owners asked once)."""
        if not hasattr(self, "_owners"):
            self._owners = [None] * 16384
            for port in self.ports:
                for line in cli(port, "CLUSTER", "NODES").splitlines():
                    words = line.split()
                    if "myself" not in words[2]:
                        continue
                    for r in words[8:]:
                        lo, _, hi = r.partition("-")
                        if lo.isdigit():
                            for slot in range(int(lo), int(hi or lo) + 1):
                                self._owners[slot] = port
        return self._owners[key_slot(key)]

    def stop(self):
        for port, proc in zip(self.ports, self.procs):
            subprocess.run(["redis-cli", "-p", str(port), "SHUTDOWN", "NOSAVE"], capture_output=True)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for proc in self.procs[len(self.ports):]:
            proc.kill()
            proc.wait()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)


class RoundTripCounter:
    """A loopback TCP proxy in front of a server that counts, per client
    connection, round trips: each time the server answers after the client
    has sent something (a pipeline is one round trip, however many
    commands it holds). Connections are counted in order of arrival.
    `cut()` drops every connection it carries, as a failing network would."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = []  # round trips of each connection
        self.commands = []  # per connection, the command names of each round trip
        self.running = True
        self.open = []  # the (client, server) sockets of live connections
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self):
        """Drops every connection now open; returns how many."""
        with self.lock:
            pairs, self.open = self.open, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.cuts += bool(pairs)
        return len(pairs)

    def reset(self):
        with self.lock:
            self.connections = []
            self.commands = []

    def command_names(self):
        """Per connection since reset, each round trip's command names."""
        with self.lock:
            return [list(c) for c in self.commands]

    def counts(self, settle=0.2):
        """Round trips per connection since reset (after the last bytes settle)."""
        time.sleep(settle)
        with self.lock:
            return list(self.connections)

    def _accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client):
        server = socket.create_connection(("127.0.0.1", self.target))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            index = len(self.connections)
            self.connections.append(0)
            self.commands.append([])
            self.open.append((client, server))
        names = []  # this round trip's commands so far
        asked = False  # the client sent something the server has not answered yet
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 5.0)
                if not ready:
                    continue
                for s in ready:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    if s is client:
                        server.sendall(data)
                        names += [m.decode(errors="replace").upper()
                                  for m in re.findall(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n", data)]
                        asked = True
                    else:
                        client.sendall(data)
                        if asked:
                            with self.lock:
                                if index < len(self.connections):
                                    self.connections[index] += 1
                                    self.commands[index].append(names)
                            names = []
                            asked = False
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def stop(self):
        self.running = False
        self.listener.close()
