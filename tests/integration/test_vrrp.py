"""High availability without a balancer (issue 18): keepalived (VRRP) from
deploy/keepalived/, for real, in network namespaces this test creates and removes
(netns_lab.py):

    agents 192.0.2.50 --+
    member namespaces --+-- bridge (namespace "sw", 192.0.2.1 and .2: the TLS endpoint)
                               VIP 192.0.2.100, held by one member

keepalived (Debian's, foreground, unicast adverts), omsgw and HAProxy run in the
members; nginx serves HTTPS in "sw"; agents (netns_agents.py) loop on tunnels through
the VIP: CONNECT, TLS handshake, GET. One gateway resolves the endpoint to 192.0.2.1,
the other to .2, and nginx answers with the address it was reached on, so every
tunnel names the gateway that relayed it.

test_vrrp_pair_...: gateways A (.11) and B (.12) share the VIP (keepalived.conf).
(a) Planned stop of A: `omsgw-vrrp handoff` (the systemd drop-in's ExecStop) moves the
    VIP to B, then SIGTERM drains A. No tunnel may fail.
(c) A comes back (omsgw started, `omsgw-vrrp resume`): with nopreempt it stays BACKUP
    and the VIP stays on B; no tunnel may fail. Then a planned handoff B -> A, again
    with no failure, so that A holds the VIP for (b).
(b) SIGKILL omsgw on A, keepalived alone (its /readyz check): only tunnels on A, or
    sent to A before it dropped the VIP, may fail; every tunnel started after A's FAULT
    succeeds (through B), and success resumes within RESUME_BOUND_S.
(d) A back, then SIGKILL omsgw on B followed at once by `omsgw-vrrp handoff`, as the
    drop-in's ExecStopPost runs it when the main process dies: the same checks.

test_haproxy_pair_...: two HAProxy machines (.21, .22; deploy/haproxy/omsgw.cfg plus
haproxy-pair/haproxy-monitor.cfg) share the VIP (haproxy-pair/keepalived.conf) in front
of gateways .11 and .12. A gateway's drain loses nothing; SIGKILL of the HAProxy holding
the VIP: only tunnels through it, or sent to it before it dropped the VIP, may fail.

The measured times are printed (run with -s): the README quotes them. Needs root,
veth, bridge and network namespaces, keepalived, nftables, nginx and HAProxy; skipped
with the reason otherwise. The fixture checks that no namespace or link is left.
"""
import os
import signal
import time

import pytest

from gwtest import SOURCE_DIR, Certs, stop_process, summarize_attempts
from netns_lab import (ENDPOINT, KEEPALIVED_DIR, WAIT_S, Agents, Keepalived, Lab,
                       missing_prerequisite, run, start_endpoint, start_gateway)

TEMPLATE = os.path.join(KEEPALIVED_DIR, "keepalived.conf")
PAIR_TEMPLATE = os.path.join(KEEPALIVED_DIR, "haproxy-pair", "keepalived.conf")
MONITOR = os.path.join(KEEPALIVED_DIR, "haproxy-pair", "haproxy-monitor.cfg")
HAPROXY = os.path.join(SOURCE_DIR, "deploy", "haproxy", "omsgw.cfg")
NODES = {"a": "192.0.2.11", "b": "192.0.2.12"}
LBS = {"lba": "192.0.2.21", "lbb": "192.0.2.22"}
DRAIN_TIMEOUT_S = 20
TUNNEL_WAIT_S = 8        # handoff's bound on open tunnels (> the agents' 1.5 s tunnels)
RESUME_BOUND_S = 10      # after a SIGKILL, success must resume within this


def derive_from(template, text, node, subs, needles):
    for needle in needles:
        assert needle in text, f"{needle!r} missing from {template}"
    for old, new in subs + [('"/usr/local/sbin/omsgw-vrrp notify"', node.notify_command())]:
        assert old in text, f"{old!r} missing from {template}"
        text = text.replace(old, new)
    return text


def gateway_pair_config(text, node):
    me, peer = NODES[node.role], NODES["b" if node.role == "a" else "a"]
    subs = [("router_id omsgw_a", f"router_id omsgw_{node.role}"),
            ("unicast_src_ip 192.0.2.11", f"unicast_src_ip {me}"),
            ("        192.0.2.12\n", f"        {peer}\n"),
            ("/run/omsgw-vrrp/handoff", node.flag)]
    if node.role == "b":
        subs.append(("priority 150", "priority 100"))
    return derive_from(TEMPLATE, text, node, subs, (
        "nopreempt", "track_script", "track_file", "weight 0", "unicast_peer",
        "http://127.0.0.1:8081/readyz", "advert_int 1", "fall 2", "rise 2"))


def haproxy_pair_config(text, node):
    me, peer = LBS[node.role], LBS["lbb" if node.role == "lba" else "lba"]
    subs = [("router_id omsgw_lb_a", f"router_id omsgw_{node.role}"),
            ("unicast_src_ip 192.0.2.21", f"unicast_src_ip {me}"),
            ("        192.0.2.22\n", f"        {peer}\n")]
    if node.role == "lbb":
        subs.append(("priority 150", "priority 100"))
    return derive_from(PAIR_TEMPLATE, text, node, subs, (
        "nopreempt", "track_script", "http://127.0.0.1:8082/healthz", "unicast_peer"))


def start_haproxy(lab, role, directory):
    """deploy/haproxy/omsgw.cfg (servers 192.0.2.11/.12 as shipped) + the monitor
    frontend, without the lines that need a system install (chroot, user, syslog)."""
    os.makedirs(directory, exist_ok=True)
    out = []
    for line in open(HAPROXY).read().splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("chroot", "user", "group", "daemon") or line.strip().startswith("log /dev/log"):
            continue
        if word == "stats":
            line = f"    stats socket {directory}/admin.sock mode 600 level admin"
        elif word == "maxconn":
            line = "    maxconn 4096"
        out.append(line)
    cfg = os.path.join(directory, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write("\n".join(out) + "\n" + open(MONITOR).read())
    run(["haproxy", "-c", "-f", cfg])
    log = open(os.path.join(directory, "haproxy.log"), "wb")
    return lab.popen(role, ["haproxy", "-db", "-f", cfg], stdout=log, stderr=log)


def make_lab(tmp_path, members, tools):
    why = missing_prerequisite(tools)
    if why:
        pytest.skip(why)
    os.nice(10)  # a shared machine: this test and everything it starts yield the CPU
    os.chmod(tmp_path, 0o755)
    return Lab(members)


@pytest.fixture
def lab(request, tmp_path):
    members, tools = request.param
    lab = make_lab(tmp_path, members, tools)
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
    return summarize_attempts(name, attempts)[1]


def slowest_connect(attempts, start, end):
    """The longest TCP connect (SYN retransmits included) of attempts started in [start, end)."""
    waits = [a["connected"] - a["start"] for a in attempts
             if start <= a["start"] < end and a["connected"]]
    return max(waits, default=0.0)


class GatewayPair:
    """Drives the VRRP pair of gateways a/b through the scenarios; `t` records when each
    step began or ended (time.time(), the agents' clock)."""

    def __init__(self, lab, tmp_path):
        self.lab, self.dir = lab, tmp_path
        self.nodes, self.gws, self.agents, self.t, self.restarts = {}, {}, None, {}, 0
        certs = Certs(str(tmp_path / "certs"))
        start_endpoint(lab, str(tmp_path / "nginx"), certs)
        for role in NODES:
            self.start_gateway(role)
        self.t["start"] = time.time()
        for role, state in (("a", "MASTER"), ("b", "BACKUP")):
            self.nodes[role] = Keepalived(lab, role, str(tmp_path / f"vrrp-{role}"), TEMPLATE,
                                          gateway_pair_config)
            self.t[f"{role} {state}"] = self.nodes[role].wait_state(state, self.t["start"])
        assert lab.holds_vip("a") and not lab.holds_vip("b")
        self.agents = Agents(lab, certs.ca)
        self.agents.first_success(ENDPOINT["a"], self.t["start"])
        time.sleep(1.0)

    def start_gateway(self, role):
        self.restarts += 1
        self.gws[role] = start_gateway(self.lab, role, str(self.dir / f"gw-{role}-{self.restarts}"),
                                       ENDPOINT[role], drain_timeout_s=DRAIN_TIMEOUT_S)

    def handoff(self, key, src, dst):
        """`omsgw-vrrp handoff` on src (the drop-in's ExecStop): the VIP moves to dst."""
        self.t[key] = time.time()
        self.t[key + " line"] = self.nodes[src].handoff(TUNNEL_WAIT_S).strip()
        self.t[key + " moved"] = time.time()
        self.t[key + " master"] = self.nodes[dst].wait_state("MASTER", self.t[key])
        self.t[key + " first"] = self.agents.first_success(ENDPOINT[dst], self.t[key])

    def drain(self, role):
        """SIGTERM (after a handoff): the drain, exit 0."""
        gw = self.gws[role]
        gw.signal(signal.SIGTERM)
        assert gw.proc.wait(DRAIN_TIMEOUT_S + WAIT_S) == 0, gw.text()[-2000:]
        gw.log.close()
        self.t["drain exit"] = time.time()

    def come_back(self, key, role):
        """The gateway restarted, then `omsgw-vrrp resume` (ExecStartPost): BACKUP."""
        self.t[key] = time.time()
        self.start_gateway(role)
        self.nodes[role].resume()
        self.t[key + " backup"] = self.nodes[role].wait_state("BACKUP", self.t[key])

    def crash(self, key, role, peer, systemd):
        """SIGKILL the gateway. systemd=True: then at once `omsgw-vrrp handoff`, as the
        drop-in's ExecStopPost runs it when the main process dies (ExecStop is skipped)."""
        self.t[key] = time.time()
        self.gws[role].proc.send_signal(signal.SIGKILL)
        self.gws[role].proc.wait(WAIT_S)
        if systemd:
            self.nodes[role].handoff(TUNNEL_WAIT_S)
        self.t[key + " fault"] = self.nodes[role].wait_state("FAULT", self.t[key])
        self.t[key + " master"] = self.nodes[peer].wait_state("MASTER", self.t[key])
        self.t[key + " first"] = self.agents.first_success(ENDPOINT[peer], self.t[key])
        time.sleep(1.0)

    def stop(self):
        attempts = self.agents.stop() if self.agents else []
        for n in self.nodes.values():
            n.stop()
        for g in self.gws.values():
            g.stop(timeout=5)
        return attempts


def print_handoff(attempts, t, key, src):
    print(f"      {t[key + ' line']}\n      VIP gone from {src} {t[key + ' moved'] - t[key]:.2f} s"
          f" after the handoff began, peer MASTER +{t[key + ' master'] - t[key]:.2f} s, first"
          f" tunnel through it done +{t[key + ' first'] - t[key]:.2f} s; slowest connect "
          f"{slowest_connect(attempts, t[key], t[key + ' moved']):.2f} s")


def check_crash(name, attempts, t, key, role, end):
    """Failures only for tunnels on `role` or sent to it before its FAULT; returns the
    failures for the report."""
    bad = report(name, phase(attempts, t[key], end))
    in_flight = [a for a in bad if a["start"] < t[key]]
    print(f"      FAULT {t[key + ' fault'] - t[key]:.2f} s after SIGKILL, peer MASTER "
          f"+{t[key + ' master'] - t[key]:.2f} s, first new tunnel through it done "
          f"+{t[key + ' first'] - t[key]:.2f} s; failed: {len(in_flight)} open at the kill, "
          f"{len(bad) - len(in_flight)} sent to it after")
    assert all(a["node"] in (None, ENDPOINT[role]) for a in bad), bad
    assert all(a["start"] < t[key + " fault"] for a in bad), f"{name}: a tunnel started after the FAULT failed"
    assert t[key + " first"] - t[key] < RESUME_BOUND_S
    return bad


@pytest.mark.parametrize("lab", [(NODES, ("keepalived", "nft", "nginx", "curl"))], indirect=True)
def test_vrrp_pair_planned_handoff_loses_nothing_and_a_crash_only_its_own(lab, tmp_path):
    pair = GatewayPair(lab, tmp_path)
    try:
        pair.handoff("(a)", "a", "b")                       # (a) planned stop of A
        pair.drain("a")
        time.sleep(1.0)
        pair.come_back("(c)", "a")                          # (c) A back, stays BACKUP
        time.sleep(2.0)  # room for a (wrong) preemption to show
        assert lab.holds_vip("b") and not lab.holds_vip("a"), "the VIP moved back by itself"
        pair.handoff("back", "b", "a")                      # B -> A, B's gateway running
        pair.nodes["b"].resume()
        pair.nodes["b"].wait_state("BACKUP", pair.t["back"])
        time.sleep(1.0)
        pair.crash("(b)", "a", "b", systemd=False)          # (b) crash, keepalived alone
        pair.come_back("again", "a")
        time.sleep(1.0)
        pair.crash("(d)", "b", "a", systemd=True)           # (d) crash under systemd
        pair.t["end"] = time.time()
    finally:
        attempts = pair.stop()
    t = pair.t
    print(f"\nVRRP pair (deploy/keepalived/keepalived.conf): A MASTER "
          f"{t['a MASTER'] - t['start']:.2f} s after keepalived started")
    assert not report("steady state (VIP on A)", phase(attempts, 0, t["(a)"])), "early failure"
    assert not report("(a) handoff A->B + drain A", phase(attempts, t["(a)"], t["(c)"]))
    print_handoff(attempts, t, "(a)", "A")
    print(f"      A exited 0 {t['drain exit'] - t['(a)']:.2f} s after the handoff began")
    assert not report("(c) A back (stays BACKUP)", phase(attempts, t["(c)"], t["back"]))
    print(f"      A BACKUP {t['(c) backup'] - t['(c)']:.2f} s after its gateway started")
    assert not report("    handoff B->A", phase(attempts, t["back"], t["(b)"]))
    print_handoff(attempts, t, "back", "B")
    bad = check_crash("(b) SIGKILL omsgw on A", attempts, t, "(b)", "a", t["again"])
    assert not report("    A back (BACKUP)", phase(attempts, t["again"], t["(d)"]))
    bad += check_crash("(d) SIGKILL B + handoff (systemd)", attempts, t, "(d)", "b",
                       t["end"] + WAIT_S)
    for a in bad[:6]:
        print(f"      failure: {a['kind']} node={a['node']}: {a['error']}")


@pytest.mark.parametrize("lab", [({**NODES, **LBS}, ("keepalived", "haproxy", "nginx", "curl"))],
                         indirect=True)
def test_haproxy_pair_moves_the_vip_when_haproxy_dies_and_a_gateway_drain_loses_nothing(
        lab, tmp_path):
    certs = Certs(str(tmp_path / "certs"))
    nodes, gws, lbs, agents = {}, {}, {}, None
    try:
        start_endpoint(lab, str(tmp_path / "nginx"), certs)
        for role in NODES:  # HAProxy on other machines checks /readyz: admin on 0.0.0.0
            gws[role] = start_gateway(lab, role, str(tmp_path / f"gw-{role}"), ENDPOINT[role],
                                      admin_address="0.0.0.0", drain_timeout_s=DRAIN_TIMEOUT_S)
        for role in LBS:
            lbs[role] = start_haproxy(lab, role, str(tmp_path / f"haproxy-{role}"))
        t0 = time.time()
        nodes["lba"] = Keepalived(lab, "lba", str(tmp_path / "vrrp-lba"), PAIR_TEMPLATE,
                                  haproxy_pair_config)
        nodes["lba"].wait_state("MASTER", t0)
        nodes["lbb"] = Keepalived(lab, "lbb", str(tmp_path / "vrrp-lbb"), PAIR_TEMPLATE,
                                  haproxy_pair_config)
        nodes["lbb"].wait_state("BACKUP", t0)
        agents = Agents(lab, certs.ca)
        agents.first_success(ENDPOINT["a"], t0)
        agents.first_success(ENDPOINT["b"], t0)
        time.sleep(1.0)

        # a gateway's drain behind the pair: HAProxy redispatches, nothing fails
        t_drain = time.time()
        gws["a"].signal(signal.SIGTERM)
        assert gws["a"].proc.wait(DRAIN_TIMEOUT_S + WAIT_S) == 0, gws["a"].text()[-2000:]
        gws["a"].log.close()
        t_drained = time.time()
        time.sleep(1.0)

        # SIGKILL the HAProxy holding the VIP: its keepalived notices (/healthz fails)
        t_kill = time.time()
        lbs["lba"].send_signal(signal.SIGKILL)
        lbs["lba"].wait(WAIT_S)
        t_fault = nodes["lba"].wait_state("FAULT", t_kill)
        t_master = nodes["lbb"].wait_state("MASTER", t_kill)
        agents.first_success(ENDPOINT["b"], t_kill)
        time.sleep(2.0)
        t_end = time.time()
        assert lab.holds_vip("lbb") and not lab.holds_vip("lba")
    finally:
        attempts = agents.stop() if agents else []
        for n in nodes.values():
            n.stop()
        for p in lbs.values():
            stop_process(p, timeout=5)
        for g in gws.values():
            g.stop(timeout=5)

    resumed = min((a["end"] for a in attempts if a["ok"] and a["start"] >= t_kill), default=None)
    print("\nHAProxy pair (keepalived, deploy/keepalived/haproxy-pair/) before 2 gateways:")
    steady_bad = report("steady state (VIP on lb A)", phase(attempts, 0, t_drain))
    drain_bad = report("SIGTERM gateway .11 (drain)", phase(attempts, t_drain, t_kill))
    print(f"      the gateway exited 0 after {t_drained - t_drain:.2f} s")
    k_bad = report("SIGKILL HAProxy on lb A", phase(attempts, t_kill, t_end + WAIT_S))
    in_flight = [a for a in k_bad if a["start"] < t_kill]
    print(f"      lb A FAULT {t_fault - t_kill:.2f} s after SIGKILL, lb B MASTER "
          f"+{t_master - t_kill:.2f} s, first new tunnel done +{(resumed or t_kill) - t_kill:.2f} s;"
          f" failed: {len(in_flight)} open through lb A at the kill, "
          f"{len(k_bad) - len(in_flight)} sent to it after")
    assert not steady_bad, "failures before anything was touched"
    assert not drain_bad, f"{len(drain_bad)} tunnel(s) failed during the gateway's drain"
    assert all(a["start"] < t_fault for a in k_bad), "a tunnel started after lb A's FAULT failed"
    assert resumed is not None and resumed - t_kill < RESUME_BOUND_S
