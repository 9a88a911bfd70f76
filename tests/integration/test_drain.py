"""SPEC.md "Signals": SIGTERM/SIGINT drain the gateway. /readyz turns 503, the listener
stops accepting, live tunnels keep relaying for up to limits.drain_timeout_s, then the
process exits 0 with event 102; a second signal stops it at once (also exit 0, event 102).
"""
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

from gwtest import EchoServer, Gateway, base_config, free_port, proxy_connect, recv_exact

# Generous bounds on waits that should end much sooner; never asserted as timings.
EXIT_WAIT_S = 20


@pytest.fixture(scope="module")
def echo():
    e = EchoServer(None, mode="halfclose")
    yield e
    e.stop()


def start(tmp_path, echo, drain_timeout_s):
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      limits={"drain_timeout_s": drain_timeout_s})
    return Gateway(str(tmp_path / "gw"), cfg)


def admin_get(gw, path):
    url = f"http://127.0.0.1:{gw.config['admin']['port']}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def open_tunnel(gw, echo):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}")
    assert status == 200, head
    return s


def echo_round(s, payload):
    s.sendall(payload)
    assert recv_exact(s, len(payload)) == payload


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def wait_exit(gw, timeout=EXIT_WAIT_S):
    rc = gw.proc.wait(timeout)
    gw.log.close()
    return rc


def test_live_tunnel_keeps_relaying_and_process_exits_when_it_ends(tmp_path, echo):
    gw = start(tmp_path, echo, drain_timeout_s=60)
    try:
        assert admin_get(gw, "/readyz") == 200
        t = open_tunnel(gw, echo)
        echo_round(t, b"before")
        gw.signal(signal.SIGTERM)
        gw.wait_event(100, r"draining: 1 live connection")
        assert admin_get(gw, "/readyz") == 503
        assert admin_get(gw, "/healthz") == 200
        assert refused(gw.port), "the listener still accepts while draining"
        for i in range(20):  # the tunnel keeps relaying in both directions
            echo_round(t, b"during drain %d " % i * 100)
        assert gw.proc.poll() is None
        t.shutdown(socket.SHUT_WR)
        assert t.recv(1) == b""  # the echo server ended the tunnel cleanly
        t.close()
        assert wait_exit(gw) == 0
        gw.wait_event(102, "omsgw stopped")
        assert "drain_timeout_s reached" not in gw.text()
    finally:
        gw.stop()


def test_drain_with_no_tunnel_exits_at_once(tmp_path, echo):
    gw = start(tmp_path, echo, drain_timeout_s=600)
    try:
        gw.signal(signal.SIGINT)
        assert wait_exit(gw) == 0
        gw.wait_event(102)
    finally:
        gw.stop()


def test_drain_timeout_closes_remaining_tunnels_and_exits_0(tmp_path, echo):
    gw = start(tmp_path, echo, drain_timeout_s=1)
    try:
        tunnels = [open_tunnel(gw, echo) for _ in range(3)]
        for t in tunnels:
            echo_round(t, b"x" * 1000)
        gw.signal(signal.SIGTERM)
        for t in tunnels:  # the gateway closes them when drain_timeout_s elapses
            t.settimeout(EXIT_WAIT_S)
            try:
                assert t.recv(1) == b""
            except ConnectionResetError:
                pass
            t.close()
        assert wait_exit(gw) == 0
        gw.wait_event(100, r"drain_timeout_s reached: closing 3 remaining")
        gw.wait_event(102, "omsgw stopped")
        # Each cut tunnel still gets its closing line with its bytes (it used to get
        # none: the session had stopped before its connection reported the end).
        closed = [l for l in gw.events(100) if "reason=shutdown" in l]
        assert len(closed) == 3, gw.text()
        assert all("bytes_up=1000" in l and "tunnel closed" in l for l in closed), closed
    finally:
        gw.stop()


def test_second_sigterm_stops_at_once_with_exit_0(tmp_path, echo):
    gw = start(tmp_path, echo, drain_timeout_s=3600)
    try:
        t = open_tunnel(gw, echo)
        echo_round(t, b"ping")
        gw.signal(signal.SIGTERM)
        gw.wait_event(100, "draining: 1 live connection")
        echo_round(t, b"still relaying")
        gw.signal(signal.SIGTERM)
        # Far below drain_timeout_s (an hour): the second signal does not wait for the tunnel.
        assert wait_exit(gw) == 0
        gw.wait_event(100, "second signal: stopping now")
        gw.wait_event(102, "omsgw stopped")
        t.settimeout(5)
        try:
            assert t.recv(1) == b""
        except ConnectionResetError:
            pass
        t.close()
    finally:
        gw.stop()


def test_reload_still_works_while_draining(tmp_path, echo):
    gw = start(tmp_path, echo, drain_timeout_s=60)
    try:
        t = open_tunnel(gw, echo)
        gw.signal(signal.SIGTERM)
        gw.wait_event(100, "draining")
        gw.config["allowed_hosts"] = ["allowed.test", "also.allowed.test"]
        gw.write_config(gw.config)
        gw.signal(signal.SIGHUP)
        gw.wait_event(100, r"configuration reloaded \((SIGHUP|file change)")
        echo_round(t, b"after reload")
        t.close()
        assert wait_exit(gw) == 0
    finally:
        gw.stop()


def test_drain_refuses_new_connections_but_never_drops_an_accepted_one(tmp_path):
    """Under a stream of connections, SIGTERM: every connection either is refused at
    TCP level (a load balancer retries it elsewhere) or is served completely. One the
    kernel completed just before the listening socket closed must not be reset."""
    echo = EchoServer(None, mode="length")
    counts = {"served": 0, "refused": 0, "dropped": 0}
    lock = threading.Lock()
    try:
        for rnd in range(4):
            cfg = base_config(free_port(), allowed_ports=[echo.port],
                              limits={"drain_timeout_s": 10}, log={"level": "info"})
            gw = Gateway(str(tmp_path / f"gw{rnd}"), cfg)
            stop = threading.Event()

            def worker():
                while not stop.is_set():
                    try:
                        s, status, _ = proxy_connect("127.0.0.1", gw.port,
                                                     f"allowed.test:{echo.port}", timeout=10)
                    except ConnectionRefusedError:
                        with lock:
                            counts["refused"] += 1
                        time.sleep(0.01)
                        continue
                    except OSError:
                        with lock:
                            counts["dropped"] += 1
                        continue
                    outcome = "dropped"
                    try:
                        if status == 200:
                            data = os.urandom(2000)
                            s.sendall(len(data).to_bytes(8, "big") + data)
                            if recv_exact(s, len(data)) == data:
                                outcome = "served"
                    except (OSError, EOFError):
                        pass
                    finally:
                        s.close()
                    with lock:
                        counts[outcome] += 1

            threads = [threading.Thread(target=worker) for _ in range(16)]
            for t in threads:
                t.start()
            try:
                time.sleep(0.5)
                gw.signal(signal.SIGTERM)
                time.sleep(0.5)
            finally:
                stop.set()
                for t in threads:
                    t.join(30)
            assert wait_exit(gw) == 0
            gw.stop()
    finally:
        echo.stop()
    print("drain under load:", counts)
    assert counts["served"] > 0 and counts["refused"] > 0, counts
    assert counts["dropped"] == 0, counts


def test_drain_waits_for_a_connection_still_sending_its_proxy_header(tmp_path, echo):
    """With listen.proxy_protocol, a connection accepted before SIGTERM whose PROXY
    header has not arrived yet is not a session yet: the drain must still wait for it."""
    cfg = base_config(free_port(), allowed_ports=[echo.port],
                      listen={"address": "127.0.0.1", "proxy_protocol": True},
                      limits={"drain_timeout_s": 60, "header_timeout_s": 30})
    gw = Gateway(str(tmp_path / "gw"), cfg)
    try:
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        gw.signal(signal.SIGTERM)
        gw.wait_event(100, r"draining: 0 live connection")
        assert refused(gw.port)
        assert gw.proc.poll() is None, "the drain did not wait for the pending connection"
        target = f"allowed.test:{echo.port}"
        s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 8080\r\n" +
                  f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        gw.wait_event(103, "192.0.2.7")
        echo_round(s, b"late but served")
        s.close()
        assert wait_exit(gw) == 0
        gw.wait_event(102)
    finally:
        gw.stop()
