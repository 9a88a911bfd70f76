"""The admin endpoint and the descriptor budget when descriptors run short (found by an
operations audit): admin connections are bounded and the endpoint recovers; an accept
that fails for want of descriptors pauses instead of spinning a core; an over-long
admin head gets 431; limits.max_connections above what the open-files limit allows is
cut to it, with a warning, so a burst gets 503s and no admitted tunnel fails with
EMFILE."""
import os
import re
import resource
import socket
import time
import urllib.error
import urllib.request

import pytest

from gwtest import EchoServer, Gateway, base_config, free_port, proxy_connect, wait_until

ADMIN_CONNECTIONS = 32  # net::max_admin_connections


def admin(gw):
    return ("127.0.0.1", gw.config["admin"]["port"])


def healthz(gw):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin(gw)[1]}/healthz", timeout=3) as r:
            return r.status
    except (urllib.error.URLError, OSError):
        return None


def skip_if_sanitized(pid):
    """A sanitizer build cannot run out of descriptors faithfully: UBSan's vptr check
    opens a pipe to test that memory is readable, and with no descriptor left it reports
    a false "invalid vptr" and aborts. These tests run on the normal build."""
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    if "libasan" in maps or "libubsan" in maps:
        pytest.skip("out of descriptors under a sanitizer: the sanitizer's own pipe fails")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_admin_connections_are_bounded_and_the_endpoint_recovers(tmp_path):
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    idle = []
    try:
        idle = [socket.create_connection(admin(gw)) for _ in range(ADMIN_CONNECTIONS)]
        extra = socket.create_connection(admin(gw))
        extra.settimeout(5)
        assert extra.recv(1) == b""  # closed at once, not held: it used to be kept
        extra.close()
        gw.wait_event(400, f"admin endpoint: {ADMIN_CONNECTIONS} connections open")
        idle.pop().close()
        wait_until(lambda: healthz(gw) == 200, "/healthz answering again")
    finally:
        for s in idle:
            s.close()
        assert gw.stop() == 0


def test_an_admin_head_over_16k_gets_431(tmp_path):
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    try:
        s = socket.create_connection(admin(gw))
        s.settimeout(5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 +
                  b"\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 431 ")
        s.close()
    finally:
        assert gw.stop() == 0


def test_out_of_descriptors_the_admin_accept_pauses_instead_of_spinning(tmp_path):
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    pid = gw.proc.pid
    held = []
    try:
        skip_if_sanitized(pid)
        assert healthz(gw) == 200
        # No descriptor left: every accept fails with EMFILE from now on (the soft limit;
        # lowering the hard one could not be undone).
        _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")), hard))
        for _ in range(4):  # the first may take a free low number; then EMFILE
            held.append(socket.create_connection(admin(gw)))
        gw.wait_event(400, "admin endpoint: accept failed: Too many open files")
        before = cpu_seconds(pid)
        time.sleep(2)
        # It used to retry at once, forever: a core (2 s of CPU here).
        assert cpu_seconds(pid) - before < 0.8
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        wait_until(lambda: healthz(gw) == 200, "/healthz answering once descriptors are back")
    finally:
        for s in held:
            s.close()
        assert gw.stop() == 0


def test_max_connections_above_the_open_files_limit_is_cut_to_it(tmp_path):
    echo = EchoServer()
    # 300 descriptors: 160 are kept back (2 cores), so 70 tunnels fit, not 5000.
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      limits={"max_connections": 5000})
    gw = Gateway(str(tmp_path / "gw"), cfg, prefix=("prlimit", "--nofile=300:300"))
    tunnels, statuses = [], []
    try:
        line = gw.wait_event(100, "limits.max_connections 5000 is more than")
        allowed = int(re.search(r": (\d+) tunnels at most", line).group(1))
        assert 0 < allowed < 100, line
        for _ in range(allowed + 40):
            s, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}")
            statuses.append(status)
            tunnels.append(s)
        # Over the limit: 503, never a 502 for want of descriptors (EMFILE).
        assert statuses.count(200) == allowed, statuses
        assert set(statuses) == {200, 503}, statuses
        assert not gw.events(403), gw.events(403)
    finally:
        for s in tunnels:
            s.close()
        assert gw.stop() == 0
        echo.stop()


def test_a_burst_of_refusals_lingers_on_a_bounded_number_of_descriptors(tmp_path):
    """A refusal keeps reading for a second after its answer (so the client gets the
    answer, not a reset), on a descriptor the tunnel limit no longer counts: a burst of
    refusals used to hold one each, and admitted tunnels then failed with EMFILE."""
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port()))
    pid = gw.proc.pid
    clients, statuses = [], []
    try:
        baseline = len(os.listdir(f"/proc/{pid}/fd"))
        for _ in range(200):  # each client keeps its socket open: the refusal lingers
            s, status, _ = proxy_connect(gw.host, gw.port, "denied.test:443")
            statuses.append(status)
            clients.append(s)
        held = len(os.listdir(f"/proc/{pid}/fd")) - baseline
        assert statuses == [403] * 200
        assert held <= 32 + 8, held  # net::max_lingering_refusals, plus slack
    finally:
        for s in clients:
            s.close()
        assert gw.stop() == 0


def one_free_slot_limit(pid):
    """The soft descriptor limit under which exactly one descriptor number is free."""
    used = {int(n) for n in os.listdir(f"/proc/{pid}/fd")}
    limit = 0
    while limit - len([f for f in used if f < limit]) < 1:
        limit += 1
    return limit


def test_out_of_descriptors_for_the_destination_is_503_and_not_a_network_error(tmp_path):
    """The gateway's own EMFILE when it opens the destination's socket is its limit (503,
    event 400, reason limit), not the destination failing (502, event 403)."""
    echo = EchoServer()
    gw = Gateway(str(tmp_path / "gw"), base_config(free_port(), allowed_ports=[echo.port]))
    pid = gw.proc.pid
    _, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    try:
        skip_if_sanitized(pid)
        # The client's connection takes the last free descriptor; its destination finds none.
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (one_free_slot_limit(pid), hard))
        s, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}")
        s.close()
        assert status == 503
        gw.wait_event(400, "reason=limit.*no descriptor left")
        assert not gw.events(403), gw.events(403)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        s, status, _ = proxy_connect(gw.host, gw.port, f"allowed.test:{echo.port}")
        s.close()
        assert status == 200
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        assert gw.stop() == 0
        echo.stop()
