"""Issue 15 "Also": operator mistakes and a hostile network while agents are served. The
gateway runs behind a (simulated) load balancer with listen.proxy_protocol, its
configuration in the Kubernetes ConfigMap layout (omsgw.yaml -> ..data/omsgw.yaml,
..data -> ..vN), names resolved by a DNS server run here. While agents tunnel through
the trusted balancer to a pinned name and to a name the DNS server answers:
  - untrusted peers flood the listener with PROXY headers claiming any address,
  - agents ask for a name whose DNS server never answers,
  - the ConfigMap is swapped to an empty file, then the file is truncated in place to
    comments only, then a valid configuration comes back.
Afterwards: no good tunnel failed, the truncated configurations were refused (and did
not widen clients.allow while in place), the valid one was applied, descriptors are back
to the baseline and RSS grew within a bound.
"""
import concurrent.futures
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

from gwtest import BIN, EchoServer, FakeDns, Gateway, base_config, free_port, \
    on_every_io_thread, recv_exact, \
    yaml_dump

BALANCER = "127.0.0.2"                       # in listen.proxy_protocol_trusted
UNTRUSTED = [f"127.0.3.{i}" for i in range(1, 6)]
AGENT_NET = "192.0.2"                        # clients.allow: the agents behind the balancer
OUTSIDER = "198.51.100.9"                    # a client outside clients.allow
AGENT_THREADS = 4
UNTRUSTED_FLOOD = 300
DEAD_LOOKUPS = 24
RSS_BOUND_KIB = 64 * 1024
RSS_BOUND_ASAN_KIB = 320 * 1024


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def metric(admin_port, name, labels):
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics",
                                  timeout=10).read().decode()
    m = re.search(r"^" + re.escape(name) + re.escape(labels) + r" ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def via_balancer(port, client, target, timeout=20):
    """A CONNECT through the balancer on behalf of client; (status or None, socket)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((BALANCER, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(f"PROXY TCP4 {client} 127.0.0.1 40000 {port}\r\n".encode() +
              f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    except ConnectionResetError:
        pass
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), s


def agent_round(port, client, target, seq):
    """One agent tunnel: 4 KiB there and back. True, or what went wrong."""
    status, s = via_balancer(port, client, target)
    try:
        if status != 200:
            return f"{target}: status {status}"
        payload = os.urandom(4096)
        s.sendall(payload)
        got = recv_exact(s, len(payload))
        return True if got == payload else f"{target}: bytes differ"
    except (OSError, EOFError) as e:
        return f"{target}: {e!r}"
    finally:
        s.close()


def untrusted_claim(port, src):
    """An untrusted peer claims a client address: closed before any answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(f"PROXY TCP4 {AGENT_NET}.1 127.0.0.1 40000 {port}\r\n".encode() +
                  b"CONNECT allowed.test:443 HTTP/1.1\r\n\r\n")
        return s.recv(4096) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    finally:
        s.close()


def outsider_refused(port, echo_port):
    status, s = via_balancer(port, OUTSIDER, f"allowed.test:{echo_port}", timeout=10)
    s.close()
    return status is None


def write_version(root, name, text):
    d = root / name
    d.mkdir()
    (d / "omsgw.yaml").write_text(text)


def swap_data(root, name):
    """The ConfigMap update: ..data flips atomically to another version directory."""
    tmp = root / "..data_tmp"
    os.symlink(name, tmp)
    os.replace(tmp, root / "..data")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile_ops")
    echo = EchoServer(mode="halfclose")
    dns = FakeDns({"named.test": "127.0.0.1"}, ["dead.test"])
    port = free_port()
    cfg = base_config(port,
                      listen={"address": "127.0.0.1", "port": port, "proxy_protocol": True,
                              "proxy_protocol_trusted": [f"{BALANCER}/32"]},
                      clients={"allow": [f"{AGENT_NET}.0/24"]},
                      allowed_ports=[echo.port],
                      allowed_hosts=["allowed.test", "named.test", "dead.test"],
                      upstream={"resolve": {"allowed.test": "127.0.0.1"}, "allow_private": True},
                      limits={"header_timeout_s": 5, "connect_timeout_s": 8},
                      log={"level": "info"})
    root = base / "etc"
    root.mkdir()
    write_version(root, "..v1", yaml_dump(cfg) + "\n")
    os.symlink("..v1", root / "..data")
    os.symlink("..data/omsgw.yaml", root / "omsgw.yaml")
    log_path = base / "omsgw.log"
    log = open(log_path, "wb")
    gw = Gateway.__new__(Gateway)
    gw.dir, gw.config, gw.port, gw.host = str(base), cfg, port, "127.0.0.1"
    gw.config_path, gw.log_path, gw.log = str(root / "omsgw.yaml"), str(log_path), log
    gw.proc = subprocess.Popen([BIN, "run", "--config", gw.config_path], stdout=log,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, "OMSGW_DNS_SERVERS": f"127.0.0.1:{dns.port}"})
    gw.wait_ready()
    yield {"gw": gw, "echo": echo, "dns": dns, "root": root, "cfg": cfg}
    assert gw.stop() == 0
    dns.stop()
    echo.stop()


def test_operator_mistakes_and_hostile_peers_lose_no_good_tunnel(env):
    gw, echo, root = env["gw"], env["echo"], env["root"]
    pid, admin, port = gw.proc.pid, gw.config["admin"]["port"], gw.port
    targets = [f"allowed.test:{echo.port}", f"named.test:{echo.port}"]
    def warm():  # pools and the DNS cache, before the baseline
        for i in range(8):
            assert agent_round(port, f"{AGENT_NET}.{10 + i}", targets[i % 2], i) is True

    on_every_io_thread(lambda: via_balancer(port, f"{AGENT_NET}.99", targets[0])[1], warm)
    warm()
    time.sleep(0.5)
    fd_before, rss_before = fd_count(pid), rss_kib(pid)
    with open(f"/proc/{pid}/maps") as f:
        rss_bound = RSS_BOUND_ASAN_KIB if "libasan" in f.read() else RSS_BOUND_KIB
    failures_before = metric(admin, "omsgw_config_reloads_total", '{result="failure"}')
    success_before = metric(admin, "omsgw_config_reloads_total", '{result="success"}')

    stop = threading.Event()
    results, lock = [], threading.Lock()

    def agents(n):
        seq = 0
        while not stop.is_set():
            r = agent_round(port, f"{AGENT_NET}.{100 + n}", targets[seq % 2], seq)
            with lock:
                results.append(r)
            seq += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=AGENT_THREADS + 40) as pool:
        agent_futures = [pool.submit(agents, n) for n in range(AGENT_THREADS)]
        floods = [pool.submit(untrusted_claim, port, UNTRUSTED[i % len(UNTRUSTED)])
                  for i in range(UNTRUSTED_FLOOD)]
        dead = [pool.submit(via_balancer, port, f"{AGENT_NET}.{200 + i % 20}",
                            f"dead.test:{echo.port}") for i in range(DEAD_LOOKUPS)]

        # Mistake 1: the ConfigMap is updated to an empty file.
        write_version(root, "..v2", "")
        swap_data(root, "..v2")
        deadline = time.time() + 10
        while metric(admin, "omsgw_config_reloads_total", '{result="failure"}') < failures_before + 1:
            assert time.time() < deadline, "the empty ConfigMap version was not refused"
            time.sleep(0.1)
        assert outsider_refused(port, echo.port), "an empty file widened clients.allow"
        # Mistake 2: the file in place truncated to comments only.
        (root / "..v2" / "omsgw.yaml").write_text("# emptied by a broken deploy script\n")
        deadline = time.time() + 10
        while metric(admin, "omsgw_config_reloads_total", '{result="failure"}') < failures_before + 2:
            assert time.time() < deadline, "the comments-only file was not refused"
            time.sleep(0.1)
        assert outsider_refused(port, echo.port), "a comments-only file widened clients.allow"
        # The fix: a valid version (one more allowed host) comes back and is applied.
        fixed = dict(env["cfg"], allowed_hosts=env["cfg"]["allowed_hosts"] + ["fixed.test"])
        write_version(root, "..v3", yaml_dump(fixed) + "\n")
        swap_data(root, "..v3")
        deadline = time.time() + 10
        while metric(admin, "omsgw_config_reloads_total", '{result="success"}') < success_before + 1:
            assert time.time() < deadline, "the valid ConfigMap version was not applied"
            time.sleep(0.1)

        flood_closed = sum(1 for f in floods if f.result())
        dead_statuses = [f.result()[0] for f in dead]
        for f in dead:
            f.result()[1].close()
        time.sleep(1.0)
        stop.set()
        for f in agent_futures:
            f.result()

    assert outsider_refused(port, echo.port)
    bad = [r for r in results if r is not True]
    assert len(results) >= 20 and not bad, f"{len(bad)} of {len(results)} agent tunnels failed: {bad[:5]}"
    assert flood_closed == UNTRUSTED_FLOOD, f"{UNTRUSTED_FLOOD - flood_closed} untrusted peers got an answer"
    assert dead_statuses == [504] * DEAD_LOOKUPS, dead_statuses
    assert urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=5).status == 200
    deadline = time.time() + 20
    while fd_count(pid) > fd_before and time.time() < deadline:
        time.sleep(0.2)
    assert fd_count(pid) <= fd_before, f"descriptors {fd_before} -> {fd_count(pid)}"
    growth = rss_kib(pid) - rss_before
    assert growth < rss_bound, f"RSS grew {growth} KiB (bound {rss_bound})"
    print(f"\nhostile ops: {len(results)} agent tunnels, 0 failed; {UNTRUSTED_FLOOD} untrusted "
          f"PROXY peers closed; {DEAD_LOOKUPS} dead-DNS CONNECTs got 504; fds {fd_before} -> "
          f"{fd_count(pid)}; RSS +{growth} KiB")
