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
(b) SIGKILL omsgw on A: only tunnels on A, or sent to A before it dropped the VIP, may
    fail; every tunnel started after A left the VIP succeeds (through B), and success
    resumes within RESUME_BOUND_S.

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

from gwtest import SOURCE_DIR, Certs, stop_process
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


@pytest.mark.parametrize("lab", [(NODES, ("keepalived", "nft", "nginx", "curl"))], indirect=True)
def test_vrrp_pair_planned_handoff_loses_nothing_and_a_crash_only_its_own(lab, tmp_path):
    certs = Certs(str(tmp_path / "certs"))
    nodes, gws, agents = {}, {}, None
    try:
        start_endpoint(lab, str(tmp_path / "nginx"), certs)
        for role in ("a", "b"):
            gws[role] = start_gateway(lab, role, str(tmp_path / f"gw-{role}"), ENDPOINT[role],
                                       drain_timeout_s=DRAIN_TIMEOUT_S)
        t0 = time.time()
        nodes["a"] = Keepalived(lab, "a", str(tmp_path / "vrrp-a"), TEMPLATE, gateway_pair_config)
        t_a_master = nodes["a"].wait_state("MASTER", t0)
        nodes["b"] = Keepalived(lab, "b", str(tmp_path / "vrrp-b"), TEMPLATE, gateway_pair_config)
        nodes["b"].wait_state("BACKUP", t0)
        assert lab.holds_vip("a") and not lab.holds_vip("b")
        agents = Agents(lab, certs.ca)
        agents.first_success(ENDPOINT["a"], t0)
        time.sleep(1.0)

        # (a) planned stop of A: handoff (ExecStop), then SIGTERM (drain)
        t_a = time.time()
        handoff_line = nodes["a"].handoff(TUNNEL_WAIT_S)
        t_moved = time.time()
        t_b_master = nodes["b"].wait_state("MASTER", t_a)
        gws["a"].signal(signal.SIGTERM)
        assert gws["a"].proc.wait(DRAIN_TIMEOUT_S + WAIT_S) == 0, gws["a"].text()[-2000:]
        t_a_exit = time.time()
        gws["a"].log.close()
        first_b = agents.first_success(ENDPOINT["b"], t_a)
        time.sleep(1.0)

        # (c) A comes back: BACKUP (nopreempt), the VIP stays on B
        t_c = time.time()
        gws["a"] = start_gateway(lab, "a", str(tmp_path / "gw-a2"), ENDPOINT["a"],
                                 drain_timeout_s=DRAIN_TIMEOUT_S)
        nodes["a"].resume()
        t_a_backup = nodes["a"].wait_state("BACKUP", t_c)
        time.sleep(2.0)  # room for a (wrong) preemption to show
        assert lab.holds_vip("b") and not lab.holds_vip("a"), "the VIP moved back by itself"

        # planned handoff B -> A (B's gateway keeps running), so A holds the VIP for (b)
        t_back = time.time()
        nodes["b"].handoff(TUNNEL_WAIT_S)
        t_back_moved = time.time()
        nodes["b"].resume()
        nodes["a"].wait_state("MASTER", t_back)
        nodes["b"].wait_state("BACKUP", t_back)
        agents.first_success(ENDPOINT["a"], t_back)
        time.sleep(1.0)

        # (b) crash: SIGKILL omsgw on A; its keepalived notices (/readyz fails)
        t_kill = time.time()
        gws["a"].proc.send_signal(signal.SIGKILL)
        gws["a"].proc.wait(WAIT_S)
        t_a_fault = nodes["a"].wait_state("FAULT", t_kill)
        t_b_master2 = nodes["b"].wait_state("MASTER", t_kill)
        agents.first_success(ENDPOINT["b"], t_kill)
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
