"""High availability without a balancer (issue 18): two gateways sharing a virtual IP
with keepalived (VRRP), configured from deploy/keepalived/, in network namespaces this
test creates and removes:

    agents 192.0.2.50 --+
    gateway A .11 ------+-- bridge (namespace "sw", 192.0.2.1 and .2: the TLS endpoint)
    gateway B .12 ------+         VIP 192.0.2.100, held by A or B

keepalived (Debian's, foreground, unicast adverts) and omsgw run in A and B; nginx
serves HTTPS in "sw"; agents (netns_agents.py) loop on tunnels through the VIP: CONNECT,
TLS handshake, GET. Gateway A resolves the endpoint to 192.0.2.1 and B to .2, and nginx
answers with the address it was reached on, so every tunnel names the gateway that
relayed it.

(a) Planned stop of A: `omsgw-vrrp handoff` (the systemd drop-in's ExecStop) moves the
    VIP to B, then SIGTERM drains A. No tunnel may fail.
(c) A comes back (omsgw started, `omsgw-vrrp resume`): with nopreempt it stays BACKUP
    and the VIP stays on B; no tunnel may fail. Then a planned handoff B -> A, again
    with no failure, so that A holds the VIP for (b).
(b) SIGKILL omsgw on A: only tunnels on A, or sent to A before it dropped the VIP, may
    fail; every tunnel started after A left the VIP succeeds (through B), and success
    resumes within RESUME_BOUND_S.

The measured times are printed (run with -s): the README quotes them. Needs root,
veth, bridge and network namespaces, keepalived, nftables and nginx; skipped with the
reason otherwise. Everything it creates has a per-run name and is removed in a finally
block (and atexit); the test checks that no namespace or link is left.
"""
import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from gwtest import SOURCE_DIR, Certs, Gateway, base_config, stop_process

DEPLOY = os.path.join(SOURCE_DIR, "deploy", "keepalived")
TEMPLATE = os.path.join(DEPLOY, "keepalived.conf")
SCRIPT = os.path.join(DEPLOY, "omsgw-vrrp")
AGENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_agents.py")
VIP = "192.0.2.100"
NODES = {"a": "192.0.2.11", "b": "192.0.2.12"}
AGENT_ADDR = "192.0.2.50"
ENDPOINT = {"a": "192.0.2.1", "b": "192.0.2.2"}  # where each gateway sends allowed.test
PORT, ADMIN, TLS_PORT = 8080, 8081, 443
DRAIN_TIMEOUT_S = 20
TUNNEL_WAIT_S = 8        # handoff's bound on open tunnels (> the agents' 1.5 s tunnels)
WAIT_S = 30              # bound on every wait for a state change (never a timing claim)
RESUME_BOUND_S = 10      # after the SIGKILL, success through B must resume within this


def run(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def missing_prerequisite():
    """Why this test cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, bridge)"
    for tool in ("ip", "keepalived", "nft", "nginx", "curl", "ss"):
        if not shutil.which(tool):
            return f"{tool} not found (scripts/setup-deps installs it)"
    probe = f"omsgw-probe-{os.getpid()}-{secrets.token_hex(3)}"
    r = run(["ip", "netns", "add", probe], check=False)
    if r.returncode != 0:
        return f"kernel/container lacks network namespaces: {r.stderr.strip()}"
    try:
        for what, args in (("bridge", "link add br0 type bridge"),
                           ("veth", "link add v0 type veth peer name v1")):
            r = run(["ip", "-n", probe, *args.split()], check=False)
            if r.returncode != 0:
                return f"kernel lacks {what} devices: {r.stderr.strip()}"
    finally:
        run(["ip", "netns", "del", probe], check=False)
    return None


class Lab:
    """Four namespaces on one bridge; every name carries a per-run tag."""
    ROLES = ("sw", "agents", "a", "b")

    def __init__(self):
        self.sweep_dead_runs()
        self.tag = f"omsgw-vrrp-{os.getpid()}-{secrets.token_hex(3)}"
        self.ns = {r: f"{self.tag}-{r}" for r in self.ROLES}
        self.procs = []
        self.cleaned = False
        atexit.register(self.cleanup)
        try:
            self._build()
        except BaseException:
            self.cleanup()
            raise

    @staticmethod
    def sweep_dead_runs():
        """Namespaces of an earlier run killed before its cleanup (SIGKILL by a CTest
        timeout): their names carry the pid of a test process that no longer exists."""
        for line in run(["ip", "netns", "list"]).stdout.splitlines():
            name = line.split()[0] if line.split() else ""
            parts = name.split("-")
            if name.startswith("omsgw-vrrp-") and len(parts) > 3 and parts[2].isdigit():
                if not os.path.exists(f"/proc/{parts[2]}"):
                    for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except (OSError, ValueError):
                            pass
                    run(["ip", "netns", "del", name], check=False)

    def _build(self):
        for ns in self.ns.values():
            run(["ip", "netns", "add", ns])
        self.ip("sw", "link add br0 type bridge")
        for addr in ENDPOINT.values():
            self.ip("sw", f"addr add {addr}/24 dev br0")
        self.ip("sw", "link set br0 up")
        for role, addr in (("agents", AGENT_ADDR), *NODES.items()):
            self.ip("sw", f"link add p-{role} type veth peer name eth0 netns {self.ns[role]}")
            self.ip("sw", f"link set p-{role} master br0 up")
            self.ip(role, "link set lo up")
            self.ip(role, f"addr add {addr}/24 dev eth0")
            self.ip(role, "link set eth0 up")

    def ip(self, role, args):
        return run(["ip", "-n", self.ns[role], *args.split()])

    def prefix(self, role):
        return ["ip", "netns", "exec", self.ns[role]]

    def popen(self, role, argv, **kw):
        p = subprocess.Popen(self.prefix(role) + argv, **kw)
        self.procs.append(p)
        return p

    def holds_vip(self, role):
        return bool(run(["ip", "-n", self.ns[role], "-o", "addr", "show", "to", VIP]).stdout.strip())

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for p in self.procs:
            stop_process(p, timeout=5)
        for ns in self.ns.values():  # anything else started in our namespaces
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (OSError, ValueError):
                    pass
            run(["ip", "netns", "del", ns], check=False)

    def leftovers(self):
        names = run(["ip", "netns", "list"]).stdout + run(["ip", "-o", "link"]).stdout
        return [line for line in names.splitlines() if self.tag in line]


class Node:
    """keepalived from deploy/keepalived/keepalived.conf (the node-specific lines and
    the paths replaced) and the omsgw-vrrp script, for gateway A or B."""

    def __init__(self, lab, role, directory):
        self.lab, self.role, self.dir = lab, role, directory
        os.makedirs(directory, exist_ok=True)
        self.script = os.path.join(directory, "omsgw-vrrp")
        shutil.copy(SCRIPT, self.script)
        os.chmod(self.script, 0o755)
        self.flag = os.path.join(directory, "handoff")
        self.events = os.path.join(directory, "vrrp-events.log")
        open(self.events, "a").close()
        self.cfg = os.path.join(directory, "keepalived.conf")
        with open(self.cfg, "w") as f:
            f.write(self.derive(open(TEMPLATE).read()))
        run(["keepalived", "-t", "-f", self.cfg])
        self.log = open(os.path.join(directory, "keepalived.log"), "wb")
        self.proc = lab.popen(role, [
            "keepalived", "-P", "-n", "-l", "-D", "-G", "-f", self.cfg,
            "-p", os.path.join(directory, "keepalived.pid"),
            "-r", os.path.join(directory, "vrrp.pid")], stdout=self.log, stderr=subprocess.STDOUT)

    def derive(self, text):
        for needle in ("nopreempt", "track_script", "track_file", "weight 0", "unicast_peer",
                       "http://127.0.0.1:8081/readyz", "advert_int 1", "fall 2", "rise 2"):
            assert needle in text, f"{needle!r} missing from {TEMPLATE}"
        me, peer = NODES[self.role], NODES["b" if self.role == "a" else "a"]
        subs = [("router_id omsgw_a", f"router_id omsgw_{self.role}"),
                ("unicast_src_ip 192.0.2.11", f"unicast_src_ip {me}"),
                ("        192.0.2.12\n", f"        {peer}\n"),
                ("/run/omsgw-vrrp/handoff", self.flag),
                ('"/usr/local/sbin/omsgw-vrrp notify"',
                 f'"{self.script} notify --log {self.events}"')]
        if self.role == "b":
            subs.append(("priority 150", "priority 100"))
        for old, new in subs:
            assert old in text, f"{old!r} missing from {TEMPLATE}"
            text = text.replace(old, new)
        return text

    def states(self, after=0.0):
        """(time, state) of each transition the notify script logged after `after`."""
        out = []
        for line in open(self.events).read().splitlines():
            fields = dict(f.split("=", 1) for f in line.split()[2:] if "=" in f)
            t = datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            t = t.replace(tzinfo=timezone.utc).timestamp()
            if t >= after and "state" in fields:
                out.append((t, fields["state"]))
        return out

    def wait_state(self, state, after):
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            hits = [t for t, s in self.states(after) if s == state]
            if hits:
                return hits[0]
            time.sleep(0.05)
        raise AssertionError(f"keepalived on {self.role} never reported {state}: "
                             f"{self.states()}\n{open(self.log.name).read()[-3000:]}")

    def script_env(self):
        return ["env", f"OMSGW_VRRP_VIP={VIP}", f"OMSGW_VRRP_PORT={PORT}",
                f"OMSGW_VRRP_FILE={self.flag}", f"OMSGW_VRRP_TUNNEL_WAIT_S={TUNNEL_WAIT_S}"]

    def handoff(self):
        """As ExecStop= would: returns the script's event line."""
        return run(self.lab.prefix(self.role) + self.script_env() + [self.script, "handoff"]).stderr

    def resume(self):
        run(self.lab.prefix(self.role) + self.script_env() + [self.script, "resume"])

    def stop(self):
        stop_process(self.proc, timeout=5)
        self.log.close()


class Agents:
    """netns_agents.py in the agents' namespace; its JSON lines collected as they come."""

    def __init__(self, lab, ca):
        self.attempts = []
        self.lock = threading.Lock()
        self.proc = lab.popen("agents", [sys.executable, AGENTS, VIP, str(PORT),
                                         f"allowed.test:{TLS_PORT}", ca],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.attempts.append(json.loads(line))

    def wait_success_on(self, role, after):
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            with self.lock:
                hits = [a["end"] for a in self.attempts
                        if a["ok"] and a["node"] == ENDPOINT[role] and a["start"] >= after]
            if hits:
                return min(hits)
            time.sleep(0.05)
        raise AssertionError(f"no tunnel succeeded through {role}")

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(WAIT_S)
        self.reader.join(5)
        return list(self.attempts)


def start_endpoint(lab, directory, certs):
    """nginx in the bridge's namespace: HTTPS on both endpoint addresses, answering
    every request with the address it was reached on."""
    os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    listen = "".join(f"    listen {a}:{TLS_PORT} ssl;\n" for a in ENDPOINT.values())
    temps = "".join(f"  {k}_temp_path {directory}/tmp_{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(conf, "w") as f:
        f.write(f"""user root root;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temps}  server {{
{listen}    ssl_certificate {certs.server};
    ssl_certificate_key {certs.server_key};
    location / {{ return 200 "$server_addr"; }}
  }}
}}
""")
    proc = lab.popen("sw", ["nginx", "-p", directory, "-c", conf, "-g", "daemon off;"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + WAIT_S
    while f":{TLS_PORT}" not in run(lab.prefix("sw") + ["ss", "-Htln"]).stdout:
        assert proc.poll() is None and time.time() < deadline, "nginx did not start"
        time.sleep(0.05)
    return proc


def start_gateway(lab, role, directory):
    cfg = base_config(PORT, listen={"address": "0.0.0.0", "port": PORT},
                      admin={"address": "127.0.0.1", "port": ADMIN},
                      allowed_ports=[TLS_PORT],
                      upstream={"resolve": {"allowed.test": ENDPOINT[role]}},
                      limits={"drain_timeout_s": DRAIN_TIMEOUT_S, "header_timeout_s": 10,
                              "connect_timeout_s": 5},
                      log={"level": "info"})
    return Gateway(directory, cfg, prefix=lab.prefix(role))


@pytest.fixture
def lab(tmp_path):
    why = missing_prerequisite()
    if why:
        pytest.skip(why)
    os.nice(10)  # a shared machine: this test and everything it starts yield the CPU
    os.chmod(tmp_path, 0o755)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.cleanup()
        left = lab.leftovers()
        assert not left, f"left behind: {left}"


def phase(attempts, start, end):
    """Attempts that ended in [start, end)."""
    return [a for a in attempts if start <= a["end"] < end]


def report(name, attempts):
    ok = [a for a in attempts if a["ok"]]
    bad = [a for a in attempts if not a["ok"]]
    per_node = {}
    for a in ok:
        per_node[a["node"]] = per_node.get(a["node"], 0) + 1
    nodes = ", ".join(f"{n}: {c}" for n, c in sorted(per_node.items()))
    print(f"  {name:<34} attempts {len(attempts):5}  ok {len(ok):5}  failed {len(bad):3}"
          f"  ({nodes})")
    return bad


def slowest_connect(attempts, start, end):
    """The longest TCP connect (SYN retransmits included) of attempts started in [start, end)."""
    waits = [a["connected"] - a["start"] for a in attempts
             if start <= a["start"] < end and a["connected"]]
    return max(waits, default=0.0)


def test_vrrp_pair_planned_handoff_loses_nothing_and_a_crash_only_its_own(lab, tmp_path):
    certs = Certs(str(tmp_path / "certs"))
    nodes, gws, agents = {}, {}, None
    try:
        start_endpoint(lab, str(tmp_path / "nginx"), certs)
        for role in ("a", "b"):
            gws[role] = start_gateway(lab, role, str(tmp_path / f"gw-{role}"))
        t0 = time.time()
        nodes["a"] = Node(lab, "a", str(tmp_path / "vrrp-a"))
        t_a_master = nodes["a"].wait_state("MASTER", t0)
        nodes["b"] = Node(lab, "b", str(tmp_path / "vrrp-b"))
        nodes["b"].wait_state("BACKUP", t0)
        assert lab.holds_vip("a") and not lab.holds_vip("b")
        agents = Agents(lab, certs.ca)
        agents.wait_success_on("a", t0)
        time.sleep(1.0)

        # (a) planned stop of A: handoff (ExecStop), then SIGTERM (drain)
        t_a = time.time()
        handoff_line = nodes["a"].handoff()
        t_moved = time.time()
        t_b_master = nodes["b"].wait_state("MASTER", t_a)
        gws["a"].signal(signal.SIGTERM)
        assert gws["a"].proc.wait(DRAIN_TIMEOUT_S + WAIT_S) == 0, gws["a"].text()[-2000:]
        t_a_exit = time.time()
        gws["a"].log.close()
        first_b = agents.wait_success_on("b", t_a)
        time.sleep(1.0)

        # (c) A comes back: BACKUP (nopreempt), the VIP stays on B
        t_c = time.time()
        gws["a"] = start_gateway(lab, "a", str(tmp_path / "gw-a2"))
        nodes["a"].resume()
        t_a_backup = nodes["a"].wait_state("BACKUP", t_c)
        time.sleep(2.0)  # room for a (wrong) preemption to show
        assert lab.holds_vip("b") and not lab.holds_vip("a"), "the VIP moved back by itself"

        # planned handoff B -> A (B's gateway keeps running), so A holds the VIP for (b)
        t_back = time.time()
        nodes["b"].handoff()
        t_back_moved = time.time()
        nodes["b"].resume()
        nodes["a"].wait_state("MASTER", t_back)
        nodes["b"].wait_state("BACKUP", t_back)
        agents.wait_success_on("a", t_back)
        time.sleep(1.0)

        # (b) crash: SIGKILL omsgw on A; its keepalived notices (/readyz fails)
        t_kill = time.time()
        gws["a"].proc.send_signal(signal.SIGKILL)
        gws["a"].proc.wait(WAIT_S)
        t_a_fault = nodes["a"].wait_state("FAULT", t_kill)
        t_b_master2 = nodes["b"].wait_state("MASTER", t_kill)
        agents.wait_success_on("b", t_kill)
        time.sleep(2.0)
        t_end = time.time()
        assert lab.holds_vip("b") and not lab.holds_vip("a")
    finally:
        attempts = agents.stop() if agents else []
        for n in nodes.values():
            n.stop()
        for g in gws.values():
            g.stop(timeout=5)

    resumed = min((a["end"] for a in attempts
                   if a["ok"] and a["node"] == ENDPOINT["b"] and a["start"] >= t_kill),
                  default=None)
    print("\nVRRP pair (keepalived, deploy/keepalived/keepalived.conf): "
          f"{t_a_master - t0:.2f} s from keepalived start to A MASTER")
    steady_bad = report("steady state (VIP on A)", phase(attempts, 0, t_a))
    a_bad = report("(a) handoff A->B + drain A", phase(attempts, t_a, t_c))
    print(f"      handoff: {handoff_line.strip()}\n      VIP gone from A {t_moved - t_a:.2f} s "
          f"after the handoff began, B MASTER at +{t_b_master - t_a:.2f} s, first tunnel "
          f"through B done at +{first_b - t_a:.2f} s, A exited 0 at +{t_a_exit - t_a:.2f} s; "
          f"slowest connect {slowest_connect(attempts, t_a, t_moved):.2f} s")
    c_bad = report("(c) A back (stays BACKUP)", phase(attempts, t_c, t_back))
    print(f"      A BACKUP {t_a_backup - t_c:.2f} s after its gateway was started")
    back_bad = report("    handoff B->A", phase(attempts, t_back, t_kill))
    print(f"      VIP gone from B {t_back_moved - t_back:.2f} s after the handoff began; "
          f"slowest connect {slowest_connect(attempts, t_back, t_back_moved):.2f} s")
    killed = phase(attempts, t_kill, t_end + WAIT_S)
    k_bad = report("(b) SIGKILL omsgw on A", killed)
    in_flight = [a for a in k_bad if a["start"] < t_kill]
    refused = [a for a in k_bad if a["start"] >= t_kill]
    print(f"      A FAULT {t_a_fault - t_kill:.2f} s after SIGKILL, B MASTER "
          f"+{t_b_master2 - t_kill:.2f} s, first new tunnel through B done "
          f"+{(resumed or t_kill) - t_kill:.2f} s; failed: {len(in_flight)} open on A at the "
          f"kill, {len(refused)} sent to A after it (last started "
          f"+{max((a['start'] for a in refused), default=t_kill) - t_kill:.2f} s)")
    for a in (a_bad + c_bad + back_bad + k_bad)[:8]:
        print(f"      failure: {a['kind']} node={a['node']} started {a['start'] - t_kill:+.2f} s "
              f"from the kill: {a['error']}")

    assert not steady_bad, "failures before any node was touched"
    assert not a_bad, f"{len(a_bad)} tunnel(s) failed during the planned handoff A->B"
    assert any(a["ok"] and a["node"] == ENDPOINT["b"] for a in phase(attempts, t_a, t_c))
    assert not c_bad, f"{len(c_bad)} tunnel(s) failed while A came back"
    assert not back_bad, f"{len(back_bad)} tunnel(s) failed during the handoff B->A"
    # (b) failures only for tunnels on A or sent to A before it released the VIP...
    assert all(a["node"] in (None, ENDPOINT["a"]) for a in k_bad), k_bad
    assert all(a["start"] < t_a_fault for a in k_bad), "a tunnel started after A's FAULT failed"
    # ...and new ones succeed through B.
    assert resumed is not None and resumed - t_kill < RESUME_BOUND_S
