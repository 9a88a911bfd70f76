"""Issue 15 defect 6 "Slow DNS stalls unrelated tunnels": destinations are resolved by
c-ares, one channel per I/O thread, so a dead DNS server delays only the lookups that
need it. The gateway is pointed at a tiny DNS server run here (OMSGW_DNS_SERVERS) that
answers some names, says NXDOMAIN for others and never answers dead.test. With one I/O
thread (the worst case for head-of-line blocking) and lookups of dead.test in flight from
many clients, tunnels to an answered name, a pinned name and an IP literal keep working;
dead.test gets 504, an unknown name 502; answers are cached by their TTL; one client's
lookups in flight are bounded; descriptors return to the baseline.
"""
import concurrent.futures
import os
import re
import socket
import time
import urllib.request

import pytest

from gwtest import EchoServer, FakeDns, Gateway, base_config, free_port, recv_exact

CONNECT_TIMEOUT_S = 8   # > the resolver's 5 s lookup timeout: the 504 comes from the lookup
DEAD_CLIENTS = [f"127.0.1.{i}" for i in range(1, 31)]
SPAMMER = "127.0.2.1"
SPAM = 40               # > 32, the per-client bound on lookups in flight


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metric(admin_port, name, labels):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=10).read().decode()
    m = re.search(r"^" + re.escape(name) + re.escape(labels) + r" ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def connect(gw, target, src="127.0.0.1"):
    """CONNECT target from src; returns (status, socket or None)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(CONNECT_TIMEOUT_S + 20)
    s.bind((src, 0))
    s.connect((gw.host, gw.port))
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    m = re.match(rb"HTTP/1\.1 (\d{3})", head)
    code = int(m.group(1)) if m else None
    if code != 200:
        s.close()
        return code, None
    return code, s


def tunnel_echo(gw, target, payload=b"through the tunnel"):
    code, s = connect(gw, target)
    if code != 200:
        return f"status {code}"
    with s:
        s.sendall(len(payload).to_bytes(8, "big") + payload)
        return recv_exact(s, len(payload)) == payload or "bytes differ"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("dns")
    echo = EchoServer()
    dns = FakeDns({"answered.test": "127.0.0.1", "other.test": "127.0.0.1"}, ["dead.test"])
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      allowed_hosts=["answered.test", "other.test", "dead.test", "nx.test",
                                     "pinned.test", "127.0.0.1"],
                      upstream={"resolve": {"pinned.test": "127.0.0.1"}, "allow_private": True},
                      limits={"header_timeout_s": 10, "connect_timeout_s": CONNECT_TIMEOUT_S},
                      log={"level": "info"})
    gw = Gateway(str(root / "gw"), cfg, extra_args=["--threads", "1"],
                 env={"OMSGW_DNS_SERVERS": f"127.0.0.1:{dns.port}"})
    yield {"gw": gw, "echo": echo, "dns": dns}
    gw.stop()
    dns.stop()
    echo.stop()


def test_names_resolve_through_the_server_and_are_cached(env):
    gw, echo, dns = env["gw"], env["echo"], env["dns"]
    admin = gw.config["admin"]["port"]
    cached_before = metric(admin, "omsgw_dns_lookups_total", '{result="cached"}')
    assert tunnel_echo(gw, f"other.test:{echo.port}") is True
    asked = dns.queries("other.test")
    assert asked >= 1
    assert tunnel_echo(gw, f"other.test:{echo.port}") is True
    assert dns.queries("other.test") == asked          # answered from the cache (TTL 60 s)
    assert metric(admin, "omsgw_dns_lookups_total", '{result="cached"}') == cached_before + 1
    assert connect(gw, f"nx.test:{echo.port}")[0] == 502
    assert metric(admin, "omsgw_dns_lookups_total", '{result="not_found"}') >= 1
    assert metric(admin, "omsgw_dns_lookup_seconds_count", "") >= 2
    assert dns.queries("pinned.test") == 0              # pins never reach the resolver
    assert tunnel_echo(gw, f"pinned.test:{echo.port}") is True
    assert dns.queries("pinned.test") == 0


def test_dead_dns_server_delays_only_its_own_lookups(env, capsys):
    gw, echo, dns = env["gw"], env["echo"], env["dns"]
    pid, admin = gw.proc.pid, gw.config["admin"]["port"]
    assert tunnel_echo(gw, f"answered.test:{echo.port}") is True   # warm up
    time.sleep(0.5)
    fd_before = fd_count(pid)

    answers = {}
    first_504 = []

    def dead(src):
        code, _ = connect(gw, f"dead.test:{echo.port}", src)
        if code == 504 and not first_504:
            first_504.append(time.monotonic())
        return code

    with concurrent.futures.ThreadPoolExecutor(len(DEAD_CLIENTS) + SPAM) as pool:
        dead_futures = [pool.submit(dead, src) for src in DEAD_CLIENTS]
        spam_futures = [pool.submit(dead, SPAMMER) for _ in range(SPAM)]
        deadline = time.time() + 10
        while dns.queries("dead.test") == 0 and time.time() < deadline:
            time.sleep(0.01)
        assert dns.queries("dead.test") >= 1, "the dead name was never asked"
        # While those lookups hang, every other kind of destination still works.
        good = []
        for i in range(30):
            target = ["answered.test", "pinned.test", "127.0.0.1"][i % 3]
            good.append((target, tunnel_echo(gw, f"{target}:{echo.port}", os.urandom(1000 + i))))
            if i == 0:
                first_good = time.monotonic()
        answers["dead"] = [f.result() for f in dead_futures]
        answers["spam"] = [f.result() for f in spam_futures]

    deadline = time.time() + 30
    while fd_count(pid) > fd_before and time.time() < deadline:
        time.sleep(0.2)
    fd_after = fd_count(pid)
    busy = metric(admin, "omsgw_dns_lookups_total", '{result="busy"}')
    with capsys.disabled():
        print("\n== test_dns figures")
        print(f"dead.test answers: {sorted(set(answers['dead']))}, spammer: "
              f"{ {c: answers['spam'].count(c) for c in set(answers['spam'])} }, busy {busy:.0f}")
        print(f"queries for dead.test: {dns.queries('dead.test')}; fd before {fd_before}, after {fd_after}")

    assert [t for t, ok in good if ok is not True] == []
    assert first_504 and first_good < first_504[0], "a good lookup waited for the dead one"
    assert set(answers["dead"]) == {504}
    assert answers["spam"].count(504) <= 32
    assert busy >= SPAM - 32
    assert set(answers["spam"]) <= {504, 502, 503}
    assert fd_after <= fd_before, f"descriptors leaked: {fd_before} -> {fd_after}"
    assert gw.proc.poll() is None
