"""Network-namespace lab for the keepalived tests (test_vrrp.py): namespaces on one
bridge, keepalived from a deploy/keepalived template, agents through a VIP, an HTTPS
endpoint, omsgw gateways. Everything carries a per-run name and is removed by
Lab.cleanup (called in a finally block, atexit, and for a killed run by the next one).

Addresses are from 192.0.2.0/24 (documentation range), inside the namespaces only:
the bridge's namespace "sw" holds the endpoint addresses, each member one address.
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

from gwtest import SOURCE_DIR, Gateway, base_config, stop_process

KEEPALIVED_DIR = os.path.join(SOURCE_DIR, "deploy", "keepalived")
SCRIPT = os.path.join(KEEPALIVED_DIR, "omsgw-vrrp")
AGENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netns_agents.py")
VIP = "192.0.2.100"
AGENT_ADDR = "192.0.2.50"
ENDPOINT = {"a": "192.0.2.1", "b": "192.0.2.2"}  # where gateway a / b sends allowed.test
PORT, ADMIN, TLS_PORT = 8080, 8081, 443
WAIT_S = 30  # bound on every wait for a state change (never a timing claim)
PREFIX = "omsgw-vrrp-"


def run(argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def missing_prerequisite(tools):
    """Why the lab cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, bridge)"
    for tool in ("ip", "ss", *tools):
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


def kill_namespace(ns):
    for pid in run(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    run(["ip", "netns", "del", ns], check=False)


class Lab:
    """Namespace "sw" with the bridge (and the endpoint addresses), "agents", and one
    namespace per member (role -> address), each on the bridge through a veth pair."""

    def __init__(self, members):
        self.sweep_dead_runs()
        self.tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        self.members = {"agents": AGENT_ADDR, **members}
        self.ns = {r: f"{self.tag}-{r}" for r in ("sw", *self.members)}
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
            parts = name[len(PREFIX):].split("-")
            if name.startswith(PREFIX) and parts[0].isdigit() \
                    and not os.path.exists(f"/proc/{parts[0]}"):
                kill_namespace(name)

    def _build(self):
        for ns in self.ns.values():
            run(["ip", "netns", "add", ns])
        self.ip("sw", "link add br0 type bridge")
        for addr in ENDPOINT.values():
            self.ip("sw", f"addr add {addr}/24 dev br0")
        self.ip("sw", "link set br0 up")
        for i, (role, addr) in enumerate(self.members.items()):
            self.ip("sw", f"link add p{i} type veth peer name eth0 netns {self.ns[role]}")
            self.ip("sw", f"link set p{i} master br0 up")
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
        for ns in self.ns.values():  # and anything else started in our namespaces
            kill_namespace(ns)

    def leftovers(self):
        names = run(["ip", "netns", "list"]).stdout + run(["ip", "-o", "link"]).stdout
        return [line for line in names.splitlines() if self.tag in line]


class Keepalived:
    """keepalived in a member's namespace, in the foreground, from a template that
    derive(text, node) turns into this node's file, with omsgw-vrrp (copied) logging
    its transitions to self.events."""

    def __init__(self, lab, role, directory, template, derive):
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
            f.write(derive(open(template).read(), self))
        run(["keepalived", "-t", "-f", self.cfg])
        self.log = open(os.path.join(directory, "keepalived.log"), "wb")
        self.proc = lab.popen(role, [
            "keepalived", "-P", "-n", "-l", "-D", "-G", "-f", self.cfg,
            "-p", os.path.join(directory, "keepalived.pid"),
            "-r", os.path.join(directory, "vrrp.pid")], stdout=self.log, stderr=subprocess.STDOUT)

    def notify_command(self):
        return f'"{self.script} notify --log {self.events}"'

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

    def script_env(self, tunnel_wait_s):
        return ["env", f"OMSGW_VRRP_VIP={VIP}", f"OMSGW_VRRP_PORT={PORT}",
                f"OMSGW_VRRP_FILE={self.flag}", f"OMSGW_VRRP_TUNNEL_WAIT_S={tunnel_wait_s}"]

    def handoff(self, tunnel_wait_s):
        """As the drop-in's ExecStop= would: returns the script's event line."""
        return run(self.lab.prefix(self.role) + self.script_env(tunnel_wait_s) +
                   [self.script, "handoff"]).stderr

    def resume(self):
        run(self.lab.prefix(self.role) + self.script_env(0) + [self.script, "resume"])

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

    def first_success(self, endpoint, after):
        """End time of the first tunnel started after `after` that `endpoint` served."""
        deadline = time.time() + WAIT_S
        while time.time() < deadline:
            with self.lock:
                hits = [a["end"] for a in self.attempts
                        if a["ok"] and a["node"] == endpoint and a["start"] >= after]
            if hits:
                return min(hits)
            time.sleep(0.05)
        raise AssertionError(f"no tunnel succeeded through the gateway of {endpoint}")

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


def start_gateway(lab, role, directory, endpoint, admin_address="127.0.0.1",
                  drain_timeout_s=20):
    """omsgw on 0.0.0.0:PORT in `role`'s namespace, sending allowed.test to `endpoint`."""
    cfg = base_config(PORT, listen={"address": "0.0.0.0", "port": PORT},
                      admin={"address": admin_address, "port": ADMIN},
                      allowed_ports=[TLS_PORT],
                      upstream={"resolve": {"allowed.test": endpoint}},
                      limits={"drain_timeout_s": drain_timeout_s, "header_timeout_s": 10,
                              "connect_timeout_s": 5},
                      log={"level": "info"})
    return Gateway(directory, cfg, prefix=lab.prefix(role))
