"""High availability (issue 8): two gateways behind the HAProxy configuration of
deploy/haproxy/omsgw.cfg, under a steady stream of agent-like tunnels.

(a) Rolling drain: SIGTERM one gateway. Its /readyz turns 503 and HAProxy takes it out
    of rotation; until then HAProxy's connections to it are refused at TCP level and
    re-sent to the other gateway (`retries` + `option redispatch 1`); its established
    tunnels keep relaying until they end. No tunnel may fail. A replacement is then
    started on the same ports and HAProxy brings it back.
(b) Crash: SIGKILL the replacement. Only tunnels that were open on it may fail; new
    tunnels keep succeeding (HAProxy re-sends refused connections, then marks it down).

Which gateway served a tunnel is known without trusting logs: each gateway resolves the
destination to its own loopback address (127.0.0.2, .3, .4) and the echo server's first
byte on every connection is the last octet of the address it was reached on.

The counts are printed (run with -s to see them): the lead quotes them.
"""
import os
import selectors
import signal
import socket
import subprocess
import threading
import time

import pytest

from gwtest import (SOURCE_DIR, Gateway, base_config, free_port, open_tunnel, recv_exact,
                    stop_process, summarize_attempts, wait_port)

TEMPLATE = os.path.join(SOURCE_DIR, "deploy", "haproxy", "omsgw.cfg")
BACKEND = "omsgw_gateways"
NODE_ADDRS = {"gw1": "127.0.0.2", "gw2": "127.0.0.3", "gw1-replacement": "127.0.0.4"}
SHORT_CLIENTS = 20
LONG_CLIENTS = 4
LONG_TUNNEL_S = 3.0       # a long-lived tunnel pings for this long, then closes
SHORT_PAYLOAD = 4096      # bytes echoed through each short tunnel
DRAIN_TIMEOUT_S = 20      # > LONG_TUNNEL_S: the drain waits for tunnels to end
WAIT_S = 20               # bound on every wait for a state change (never a timing claim)
RESUME_BOUND_S = 10       # success must resume within this after the kill


def tag_of(name):
    return int(NODE_ADDRS[name].rsplit(".", 1)[1])


class TaggedEcho:
    """Echo server on several loopback addresses sharing one port. Each connection
    first receives one byte, the last octet of the address it was reached on, then
    everything it sends comes back until it half-closes."""

    def __init__(self, addrs):
        self.socks = []
        for _ in range(50):
            try:
                first = self._listen(addrs[0], 0)
                self.port = first.getsockname()[1]
                self.socks = [first] + [self._listen(a, self.port) for a in addrs[1:]]
                break
            except OSError:
                for s in self.socks:
                    s.close()
                self.socks = []
        assert self.socks, "no common free port on the loopback addresses"
        self.sel = selectors.DefaultSelector()
        for s in self.socks:
            self.sel.register(s, selectors.EVENT_READ)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _listen(addr, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(1024)
        except OSError:
            s.close()
            raise
        return s

    def _serve(self):
        while not self.stopped:
            for key, _ in self.sel.select(0.2):
                try:
                    conn, _ = key.fileobj.accept()
                except OSError:
                    continue
                threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _handle(conn):
        try:
            conn.settimeout(60)
            conn.sendall(bytes([int(conn.getsockname()[0].rsplit(".", 1)[1])]))
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                conn.sendall(chunk)
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopped = True
        self.thread.join(5)
        for s in self.socks:
            s.close()


class HAProxy:
    """HAProxy run from deploy/haproxy/omsgw.cfg with the machine-specific lines
    (daemon, chroot, user, syslog, stats socket, maxconn, bind, servers) replaced for
    a throwaway instance on loopback."""

    def __init__(self, directory, servers):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        self.sock_path = os.path.join(directory, "admin.sock")
        self.cfg_path = os.path.join(directory, "haproxy.cfg")
        with open(self.cfg_path, "w") as f:
            f.write(self.derive(open(TEMPLATE).read(), servers))
        check = subprocess.run(["haproxy", "-c", "-f", self.cfg_path], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = open(os.path.join(directory, "haproxy.log"), "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", self.cfg_path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        try:
            wait_port("127.0.0.1", self.port)
            deadline = time.monotonic() + WAIT_S  # the admin socket may come up a bit later
            while True:
                try:
                    self.stat()
                    break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def derive(self, template, servers):
        out, seen = [], set()
        for line in template.splitlines():
            word = line.split()[0] if line.split() else ""
            if word in ("chroot", "user", "group", "daemon") or line.strip().startswith("log /dev/log"):
                seen.add(word or "log")
                continue
            if line.strip().startswith("stats socket"):
                seen.add("stats")
                line = f"    stats socket {self.sock_path} mode 600 level admin"
            elif word == "maxconn":  # HAProxy needs ~2 descriptors per connection
                seen.add("maxconn")
                line = "    maxconn 4096"
            elif word == "bind":
                seen.add("bind")
                line = f"    bind 127.0.0.1:{self.port}"
            elif word == "server":
                if "server" not in seen:
                    for name, (port, admin) in servers.items():
                        out.append(f"    server {name} 127.0.0.1:{port} port {admin}")
                seen.add("server")
                continue
            out.append(line)
        # The template must keep what this test relies on.
        assert {"bind", "server", "stats"} <= seen, seen
        text = "\n".join(out) + "\n"
        for needle in ("option httpchk GET /readyz", "inter 1s fall 2 rise 2", "retries 3",
                       "option redispatch", "mode tcp"):
            assert needle in text, f"{needle!r} missing from {TEMPLATE}"
        return text

    def stat(self):
        """The backend's servers from `show stat` on the admin socket."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = {}
        for line in lines[1:]:
            if not line:
                continue
            row = dict(zip(header, line.split(",")))
            if row["pxname"] == BACKEND:
                rows[row["svname"]] = row
        return rows

    def wait_status(self, server, status, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.stat()[server]
            if row["status"] == status and (status != "UP" or row["check_status"] == "L7OK"):
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"HAProxy did not mark {server} {status}: {self.stat()[server]}")

    def stop(self):
        stop_process(self.proc)
        self.log.close()


class Load:
    """Agent-like clients through HAProxy: SHORT_CLIENTS threads each open a tunnel,
    echo SHORT_PAYLOAD bytes and close, again and again; LONG_CLIENTS threads keep a
    tunnel open for LONG_TUNNEL_S, pinging it every 100 ms, again and again."""

    def __init__(self, ha_port, echo_port):
        self.ha_port = ha_port
        self.target = f"allowed.test:{echo_port}"
        self.lock = threading.Lock()
        self.attempts = []       # dicts: kind, start, end, node, ok, error
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=("short",), daemon=True)
                        for _ in range(SHORT_CLIENTS)]
        self.threads += [threading.Thread(target=self._loop, args=("long",), daemon=True)
                         for _ in range(LONG_CLIENTS)]
        for t in self.threads:
            t.start()

    def _loop(self, kind):
        while not self.stopping.is_set():
            a = {"kind": kind, "start": time.monotonic(), "end": None, "node": None,
                 "ok": False, "error": None}
            with self.lock:
                self.attempts.append(a)
            try:
                self._tunnel(a)
                ok, err = True, None
            except Exception as e:  # noqa: BLE001 - every failure is counted, with its reason
                ok, err = False, f"{type(e).__name__}: {e}"
            with self.lock:
                a["ok"], a["error"], a["end"] = ok, err, time.monotonic()
            if not ok:
                time.sleep(0.05)

    def _tunnel(self, a):
        s = socket.create_connection(("127.0.0.1", self.ha_port), timeout=10)
        try:
            rest = open_tunnel(s, self.target)
            tag = rest[:1] or recv_exact(s, 1)
            rest = rest[1:]
            with self.lock:
                a["node"] = tag[0]
            if a["kind"] == "short":
                payload = os.urandom(SHORT_PAYLOAD)
                s.sendall(payload)
                got = rest + recv_exact(s, len(payload) - len(rest))
                if got != payload:
                    raise RuntimeError("echo mismatch")
            else:
                until = time.monotonic() + LONG_TUNNEL_S
                while time.monotonic() < until:
                    ping = os.urandom(64)
                    s.sendall(ping)
                    if recv_exact(s, len(ping)) != ping:
                        raise RuntimeError("echo mismatch")
                    time.sleep(0.1)
            s.shutdown(socket.SHUT_WR)
            if s.recv(1) != b"":
                raise RuntimeError("extra bytes after the echo")
        finally:
            s.close()

    def wait_success_on(self, node_tag, after, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if any(a["ok"] and a["node"] == node_tag and a["start"] >= after
                       for a in self.attempts):
                    return
            time.sleep(0.05)
        raise AssertionError(f"no tunnel succeeded through node .{node_tag}")

    def in_flight(self):
        """Attempts started and not finished; call with self.lock held."""
        return [a for a in self.attempts if a["end"] is None]

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(30)


def summarize(name, attempts):
    return summarize_attempts(name, attempts, node_label=lambda n: f".{n}", width=28)


@pytest.fixture
def pool(tmp_path):
    os.chmod(tmp_path, 0o755)
    echo = TaggedEcho(list(NODE_ADDRS.values()))
    started = []

    def gateway(name, port, admin):
        cfg = base_config(port, admin={"address": "127.0.0.1", "port": admin},
                          allowed_ports=[echo.port],
                          upstream={"resolve": {"allowed.test": NODE_ADDRS[name]}},
                          limits={"drain_timeout_s": DRAIN_TIMEOUT_S, "header_timeout_s": 10,
                                  "connect_timeout_s": 5},
                          log={"level": "info"})
        g = Gateway(str(tmp_path / name), cfg)
        started.append(g)
        return g

    ports = {n: (free_port(), free_port()) for n in ("gw1", "gw2")}
    ha = None
    try:
        g1 = gateway("gw1", *ports["gw1"])
        g2 = gateway("gw2", *ports["gw2"])
        ha = HAProxy(str(tmp_path / "haproxy"), ports)
        yield {"echo": echo, "gw": {"gw1": g1, "gw2": g2}, "ports": ports, "ha": ha,
               "gateway": gateway}
    finally:
        if ha:
            ha.stop()
        for g in started:
            if g.proc.poll() is None:
                g.proc.kill()
                g.proc.wait()
            if not g.log.closed:
                g.log.close()
        echo.stop()


def test_rolling_drain_loses_no_tunnel_and_a_crash_loses_only_its_own(pool):
    ha, gw1, gw2 = pool["ha"], pool["gw"]["gw1"], pool["gw"]["gw2"]
    ha.wait_status("gw1", "UP")
    ha.wait_status("gw2", "UP")
    load = Load(ha.port, pool["echo"].port)
    try:
        t0 = time.monotonic()
        load.wait_success_on(tag_of("gw1"), t0)
        load.wait_success_on(tag_of("gw2"), t0)
        time.sleep(1.0)
        before = ha.stat()

        # (a) rolling drain of gw1, at a moment a long-lived tunnel is open on it
        deadline = time.monotonic() + WAIT_S
        while True:
            with load.lock:
                long_on_gw1 = sum(1 for a in load.in_flight()
                                  if a["kind"] == "long" and a["node"] == tag_of("gw1")
                                  and time.monotonic() - a["start"] < LONG_TUNNEL_S / 2)
            if long_on_gw1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert long_on_gw1, "no long-lived tunnel landed on gw1"
        t_drain = time.monotonic()
        gw1.signal(signal.SIGTERM)
        t_down = ha.wait_status("gw1", "DOWN")
        rc = gw1.proc.wait(DRAIN_TIMEOUT_S + WAIT_S)
        t_exit = time.monotonic()
        assert rc == 0, gw1.text()[-3000:]
        gw1.log.close()
        gw1.wait_event(102, "omsgw stopped")
        assert "drain_timeout_s reached" not in gw1.text()
        after_drain = ha.stat()

        # replacement on the same ports
        t_repl = time.monotonic()
        repl = pool["gateway"]("gw1-replacement", *pool["ports"]["gw1"])
        t_up = ha.wait_status("gw1", "UP")
        load.wait_success_on(tag_of("gw1-replacement"), t_repl)
        time.sleep(1.0)

        # (b) crash of the replacement. Until the kernel has torn the process down its
        # listening socket still completes handshakes (then resets them): tunnels
        # started in that window count as open on the killed node too.
        with load.lock:
            flight = list(load.in_flight())
            repl.proc.send_signal(signal.SIGKILL)
            t_kill = time.monotonic()
            on_killed = [a for a in flight if a["node"] == tag_of("gw1-replacement")]
            unattributed = [a for a in flight if a["node"] is None]
        repl.proc.wait(WAIT_S)  # reaped: its descriptors are closed
        t_dead = time.monotonic()
        with load.lock:
            dying = [a for a in load.attempts if t_kill <= a["start"] < t_dead]
        t_kill_down = ha.wait_status("gw1", "DOWN")
        time.sleep(2.0)
        t_end = time.monotonic()
    finally:
        load.stop()
    final = ha.stat()

    attempts = list(load.attempts)
    steady = [a for a in attempts if a["end"] <= t_drain]
    drain = [a for a in attempts if t_drain < a["end"] <= t_kill]
    killed = [a for a in attempts if t_kill < a["end"] and a["start"] < t_dead]
    after = [a for a in attempts if a["start"] >= t_dead]

    def counter(stats, field):
        return sum(int(r[field] or 0) for r in stats.values())

    print("\nHA pool: 2 gateways behind HAProxy, "
          f"{SHORT_CLIENTS} short-tunnel clients ({SHORT_PAYLOAD} B echo) + "
          f"{LONG_CLIENTS} long-tunnel clients ({LONG_TUNNEL_S:.0f} s each)")
    summarize("steady state", steady)
    _, drain_bad = summarize("(a) drain gw1 + replace", drain)
    print(f"      SIGTERM -> HAProxy marks gw1 DOWN {t_down - t_drain:.2f} s; "
          f"gw1 exits 0 after {t_exit - t_drain:.2f} s ({long_on_gw1} long tunnel(s) on it "
          f"at SIGTERM); replacement UP {t_up - t_repl:.2f} s after start")
    print(f"      HAProxy retries {counter(after_drain, 'wretr') - counter(before, 'wretr')}, "
          f"redispatches {counter(after_drain, 'wredis') - counter(before, 'wredis')} "
          "during the drain")
    _, killed_bad = summarize("(b) in flight at SIGKILL", killed)
    after_ok, after_bad = summarize("(b) started after its death", after)
    print(f"      at SIGKILL: {len(flight)} tunnel(s) in flight, {len(on_killed)} known on the "
          f"killed node, {len(unattributed)} not yet attributed, {len(dying)} started in the "
          f"{(t_dead - t_kill) * 1000:.0f} ms until the process was reaped; HAProxy marks it "
          f"DOWN {t_kill_down - t_kill:.2f} s after SIGKILL")
    print(f"      HAProxy retries {counter(final, 'wretr') - counter(after_drain, 'wretr')}, "
          f"redispatches {counter(final, 'wredis') - counter(after_drain, 'wredis')} "
          "after the drain (replacement start + kill)")
    resume = min((a["end"] for a in after_ok), default=None)
    if resume is not None:
        print(f"      first success started after the kill: {resume - t_kill:.2f} s after it")
    for a in drain_bad + killed_bad + after_bad:
        print(f"      failure: {a['kind']} node={a['node']} "
              f"t={a['start'] - t0:.2f}..{a['end'] - t0:.2f}: {a['error']}")

    assert steady and drain and after, "a phase saw no tunnel"
    assert not [a for a in steady if not a["ok"]], "failures before any node was touched"
    # (a) a rolling drain loses nothing.
    assert not drain_bad, f"{len(drain_bad)} tunnel(s) failed during the drain"
    assert any(a["node"] == tag_of("gw2") for a in drain if a["ok"])
    # (b) only tunnels that were open on the killed node fail...
    candidates = on_killed + unattributed + dying
    killed_ids = {id(a) for a in candidates}
    assert all(id(a) in killed_ids for a in killed_bad), "a tunnel not on the killed node failed"
    assert all(a["node"] != tag_of("gw2") for a in killed_bad)
    assert len(killed_bad) <= len(candidates)
    # ...and new ones keep succeeding: HAProxy re-sends refused connections elsewhere.
    assert not after_bad, f"{len(after_bad)} tunnel(s) started after the kill failed"
    assert resume is not None and resume - t_kill < RESUME_BOUND_S
    assert t_end > t_kill
    assert gw2.proc.poll() is None
