"""SPEC.md "Behaviour on the wire", driven through the real binary with curl, nginx and
raw sockets (issue: the gateway works end to end)."""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from gwtest import (Certs, EchoServer, Gateway, Nginx, base_config, free_port, proxy_connect,
                    raw_request, recv_exact, status_of)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wire")
    os.chmod(root, 0o755)
    certs = Certs(str(root / "certs"))
    nginx = Nginx(str(root / "nginx"), certs)
    echo = EchoServer(certs)
    plain = EchoServer(None, mode="halfclose")
    yield {"root": root, "certs": certs, "nginx": nginx, "echo": echo, "plain": plain}
    plain.stop()
    echo.stop()
    nginx.stop()


@pytest.fixture
def gw(env, tmp_path):
    port = free_port()
    cfg = base_config(port, allowed_ports=[env["nginx"].port, env["echo"].port, env["plain"].port],
                      allowed_hosts=["allowed.test", "*.wild.test", "localhost", "nohost.example.invalid"],
                      upstream={"resolve": {"allowed.test": "127.0.0.1", "a.wild.test": "127.0.0.1",
                                            "closed.wild.test": "127.0.0.1", "v6.wild.test": "::1"}})
    g = Gateway(str(tmp_path / "gw"), cfg)
    yield g
    g.stop()


def curl(proxy, url, cacert, *extra):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-x", proxy, "--cacert", cacert,
                           "-o", "-", "-w", "\n%{http_code} %{http_connect}", *extra, url],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_allowed_host_returns_the_page_through_curl(env, gw):
    nginx = env["nginx"]
    r = curl(f"http://127.0.0.1:{gw.port}", f"https://allowed.test:{nginx.port}/", env["certs"].ca)
    assert r.returncode == 0, r.stderr
    body, codes = r.stdout.rsplit(b"\n", 1)
    assert body == nginx.body
    assert codes.split() == [b"200", b"200"]
    gw.wait_event(103, f"dest=allowed.test:{nginx.port}")


def test_wildcard_entry_matches_subdomain_case_insensitively(env, gw):
    nginx = env["nginx"]
    s, status, _ = proxy_connect("127.0.0.1", gw.port, f"A.Wild.TEST:{nginx.port}")
    s.close()
    assert status == 200


def test_disallowed_host_gets_403_and_event_105(env, gw):
    nginx = env["nginx"]
    r = curl(f"http://127.0.0.1:{gw.port}", f"https://other.test:{nginx.port}/", env["certs"].ca)
    assert r.returncode != 0
    assert b"403" in r.stderr
    gw.wait_event(105, f"dest=other.test:{nginx.port}.*reason=host")


def test_port_not_allowed_gets_403_and_event_105(gw):
    resp = raw_request("127.0.0.1", gw.port, b"CONNECT allowed.test:8443 HTTP/1.1\r\n\r\n")
    assert status_of(resp) == 403
    gw.wait_event(105, "dest=allowed.test:8443.*reason=port")


def test_other_method_gets_405_with_allow_connect_and_event_104(gw):
    resp = raw_request("127.0.0.1", gw.port,
                       b"GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
    assert status_of(resp) == 405
    assert b"\r\nAllow: CONNECT\r\n" in resp
    gw.wait_event(104, "GET")


def test_malformed_request_gets_400_and_event_104(gw):
    resp = raw_request("127.0.0.1", gw.port, b"\x16\x03\x01 garbage\r\n\r\n")
    assert status_of(resp) == 400
    resp = raw_request("127.0.0.1", gw.port, b"CONNECT allowed.test HTTP/1.1\r\n\r\n")
    assert status_of(resp) == 400
    gw.wait_event(104, "malformed")


def test_oversized_header_gets_431_and_event_104(gw):
    big = b"CONNECT allowed.test:443 HTTP/1.1\r\nX-Pad: " + b"a" * (17 * 1024) + b"\r\n\r\n"
    resp = raw_request("127.0.0.1", gw.port, big)
    assert status_of(resp) == 431
    gw.wait_event(104, "malformed")


def test_unresolvable_destination_gets_502_and_event_403(env, gw):
    resp = raw_request("127.0.0.1", gw.port,
                       f"CONNECT nohost.example.invalid:{env['nginx'].port} HTTP/1.1\r\n\r\n".encode())
    assert status_of(resp) == 502
    gw.wait_event(403, "resolve_failed")


def test_refused_destination_gets_502_and_event_403(env, gw):
    closed = free_port()
    # the port must be allowed for the request to get as far as connecting
    gw.config["allowed_ports"].append(closed)
    gw.write_config(gw.config)
    gw.signal(signal.SIGHUP)
    gw.wait_event(100, "configuration reloaded")
    # Event 100 is logged once the policy store has the new snapshot in force.
    resp = raw_request("127.0.0.1", gw.port, f"CONNECT closed.wild.test:{closed} HTTP/1.1\r\n\r\n".encode())
    assert status_of(resp) == 502
    gw.wait_event(403, "refused")


def test_destination_resolving_to_loopback_is_refused_without_override(env, gw):
    # "localhost" is allowed by name but resolves to 127.0.0.1 and has no resolve entry
    resp = raw_request("127.0.0.1", gw.port, f"CONNECT localhost:{env['nginx'].port} HTTP/1.1\r\n\r\n".encode())
    assert status_of(resp) == 403
    gw.wait_event(105, "loopback")


def test_ip_literal_not_on_the_list_is_refused(env, gw):
    resp = raw_request("127.0.0.1", gw.port, f"CONNECT 127.0.0.1:{env['nginx'].port} HTTP/1.1\r\n\r\n".encode())
    assert status_of(resp) == 403


def test_ipv6_on_both_sides(env, tmp_path):
    nginx = env["nginx"]
    port = free_port(socket.AF_INET6, "::1")
    cfg = base_config(port, listen={"address": "::1", "port": port}, allowed_ports=[nginx.port],
                      allowed_hosts=["v6.test"], upstream={"resolve": {"v6.test": "::1"}})
    g = Gateway(str(tmp_path / "gw6"), cfg)
    try:
        r = curl(f"http://[::1]:{port}", f"https://v6.test:{nginx.port}/", env["certs"].ca,
                 "--resolve", f"v6.test:{nginx.port}:127.0.0.1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.rsplit(b"\n", 1)[0] == nginx.body
        g.wait_event(103, r"client=\[::1\]:")
    finally:
        assert g.stop() == 0


def test_half_close_is_passed_on_and_both_sides_close(env, gw):
    plain = env["plain"]
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"a.wild.test:{plain.port}")
    assert status == 200
    payload = os.urandom(200_000)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)          # client half-closes; the echo server sees EOF
    got = bytearray(head.split(b"\r\n\r\n", 1)[1])
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break                        # ... echoes everything, closes; so do we
        got += chunk
    s.close()
    assert bytes(got) == payload
    gw.wait_event(100, "reason=(upstream|client)_closed.*tunnel closed")


def test_request_and_tunnel_bytes_in_one_segment_are_forwarded(env, gw):
    plain = env["plain"]
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"a.wild.test:{plain.port}",
                                    extra=b"early bytes")
    assert status == 200
    got = head.split(b"\r\n\r\n", 1)[1]
    while len(got) < len(b"early bytes"):
        chunk = s.recv(100)
        assert chunk, f"tunnel closed after {got!r}"  # not a busy loop on a closed socket
        got += chunk
    s.close()
    assert got == b"early bytes"


def test_100_concurrent_tunnels_round_trip_1_mib_byte_identical(env, gw):
    echo = env["echo"]
    ctx = ssl.create_default_context(cafile=env["certs"].ca)
    results = [None] * 100

    def one(i):
        try:
            s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}", timeout=60)
            assert status == 200 and head.endswith(b"\r\n\r\n")
            t = ctx.wrap_socket(s, server_hostname="allowed.test")
            data = os.urandom(1 << 20)
            t.sendall(len(data).to_bytes(8, "big") + data)
            back = recv_exact(t, len(data))
            t.close()
            results[i] = hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
        except Exception as e:  # reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == [True] * 100


def test_client_outside_clients_allow_is_closed_with_event_105(env, tmp_path):
    port = free_port()
    cfg = base_config(port, clients={"allow": ["10.0.0.0/8"]})
    g = Gateway(str(tmp_path / "gwc"), cfg)
    try:
        resp = raw_request("127.0.0.1", port, b"CONNECT allowed.test:443 HTTP/1.1\r\n\r\n")
        assert resp == b""
        g.wait_event(105, "reason=client")
    finally:
        g.stop()


def test_per_client_limit_gives_503_and_event_400(env, tmp_path):
    nginx = env["nginx"]
    port = free_port()
    cfg = base_config(port, allowed_ports=[nginx.port],
                      limits={"max_connections_per_client": 2, "header_timeout_s": 10})
    g = Gateway(str(tmp_path / "gwl"), cfg)
    try:
        held = [proxy_connect("127.0.0.1", port, f"allowed.test:{nginx.port}")[0] for _ in range(2)]
        resp = raw_request("127.0.0.1", port, f"CONNECT allowed.test:{nginx.port} HTTP/1.1\r\n\r\n".encode())
        assert status_of(resp) == 503
        g.wait_event(400, "max_connections_per_client")
        for s in held:
            s.close()
        # capacity comes back once the held tunnels end
        deadline = time.time() + 10
        while True:
            s, status, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{nginx.port}")
            s.close()
            if status == 200 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert status == 200
    finally:
        g.stop()


def test_max_connections_gives_503(env, tmp_path):
    nginx = env["nginx"]
    port = free_port()
    cfg = base_config(port, allowed_ports=[nginx.port], limits={"max_connections": 1})
    g = Gateway(str(tmp_path / "gwm"), cfg)
    try:
        held, status, _ = proxy_connect("127.0.0.1", port, f"allowed.test:{nginx.port}")
        assert status == 200
        resp = raw_request("127.0.0.1", port, f"CONNECT allowed.test:{nginx.port} HTTP/1.1\r\n\r\n".encode())
        assert status_of(resp) == 503
        g.wait_event(400, "max_connections")
        held.close()
    finally:
        g.stop()


def test_slow_header_is_cut_after_header_timeout(tmp_path):
    port = free_port()
    cfg = base_config(port, limits={"header_timeout_s": 1})
    g = Gateway(str(tmp_path / "gwt"), cfg)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"CONNECT allowed.test:443 HTTP/1.1\r\n")   # never finishes the header
        start = time.time()
        resp = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
        assert status_of(resp) == 408
        assert time.time() - start < 8
        g.wait_event(104, "not received in time")
    finally:
        g.stop()


def test_sigterm_exits_0_with_events_101_and_102(tmp_path):
    port = free_port()
    g = Gateway(str(tmp_path / "gws"), base_config(port))
    assert g.stop() == 0
    assert g.events(101) and g.events(102)
