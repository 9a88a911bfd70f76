"""SPEC.md relay_proxy (audit finding 2): a relay attempt that is abandoned (its connect
deadline passed, or the fallback was taken) releases every descriptor it holds, on every
path: our own CONNECT (http://), libcurl (http:// with auth: digest), the TLS bridge
(https://), with and without a fallback relay.

The relays here are hung the way a real outage hangs them: they accept TCP (or complete
the TLS handshake) and then never speak, and they never close a connection themselves.
So the gateway's descriptors (/proc/PID/fd) can only come back to what they were before
the attempts if the gateway closes its sockets on its own. Each case runs N attempts at
once (so all of them reach the hung relay before its first timeout marks it skipped).
"""
import os
import ssl
import threading
import time

import pytest

import relays
from gwtest import Certs, Gateway, base_config, free_port, proxy_connect, read_head, wait_until

N = 20
# Descriptors the gateway may open once and keep (libcurl's worker, on its first job).
SLACK = 4


class HungRelay(relays.FakeRelay):
    """Accepts every connection and keeps it open without a word. With tls_context it
    first completes the TLS handshake and reads the CONNECT head (a relay whose TLS front
    works but whose proxy behind it hangs); with delay, it waits that long before the
    handshake. received: per connection, the CONNECT head read after the handshake
    (b"" when none came)."""

    def __init__(self, tls_context=None, delay=0.0):
        self.tls_context = tls_context
        self.delay = delay
        self.held = []
        self.received = []
        self.stopped = threading.Event()
        super().__init__()

    def _talk(self, conn):
        self.held.append(conn)
        if self.tls_context:
            self.received.append(self._connect_head(conn))
        self.stopped.wait()  # never answers, never closes

    def _connect_head(self, conn):
        time.sleep(self.delay)
        try:
            conn.settimeout(5)
            tls = self.tls_context.wrap_socket(conn, server_side=True)
            self.held.append(tls)
            return read_head(tls, "the CONNECT")[0]
        except (OSError, ssl.SSLError, EOFError):
            return b""

    def address(self, scheme="http"):
        return f"{scheme}://127.0.0.1:{self.port}"

    def stop(self):
        self.stopped.set()
        super().stop()
        for c in self.held:
            c.close()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs(str(tmp_path_factory.mktemp("certs")), names=("localhost",))


@pytest.fixture
def cleanup():
    things = []
    yield things
    for t in reversed(things):
        t.stop()


def tls_server_context(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.server, certs.server_key)
    return ctx


def password_file(path, password):
    with open(path, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)
    return str(path)


def descriptors(gw):
    return len(os.listdir(f"/proc/{gw.proc.pid}/fd"))


def connect_all(gw, n):
    """n CONNECTs at once; returns their statuses (once every one is answered)."""
    statuses = [None] * n

    def one(i):
        s, statuses[i], _ = proxy_connect("127.0.0.1", gw.port, "allowed.test:443", timeout=15)
        s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


def relay_config(case, hung, certs, tmp_path, cleanup):
    if case.startswith("http-"):
        relay = {"address": hung.address("http")}
    else:
        relay = {"address": hung.address("https"), "ca_file": certs.ca}
    if case == "http-digest":
        relay.update({"auth": "digest", "username": "svc-omsgw",
                      "password_file": password_file(tmp_path / "relay.pw", "Pw-release-1")})
    if case.endswith("-fallback"):
        refusing = relays.RefusingRelay("403 Forbidden")
        cleanup.append(refusing)
        relay["fallback"] = [refusing.address()]
    return relay


CASES = {
    # case: (the hung relay completes the TLS handshake, status the agents get)
    "http-no-auth": (False, 504),
    "http-digest": (False, 504),          # the libcurl path
    "http-fallback": (False, 502),        # the fallback refuses: 502 names both relays
    "https-silent": (False, 504),         # the TLS handshake never completes
    "https-mute": (True, 504),            # handshake done, the CONNECT never answered
    "https-fallback": (False, 502),
}


@pytest.mark.parametrize("case", list(CASES))
def test_timed_out_relay_attempts_release_their_descriptors(case, certs, cleanup, tmp_path):
    handshakes, expected = CASES[case]
    hung = HungRelay(tls_server_context(certs) if handshakes else None)
    cleanup.append(hung)
    cfg = base_config(free_port())
    cfg["limits"] = {**cfg["limits"], "connect_timeout_s": 1}
    cfg["relay_proxy"] = relay_config(case, hung, certs, tmp_path, cleanup)
    gw = Gateway(str(tmp_path / "gw"), cfg)
    cleanup.append(gw)
    before = descriptors(gw)
    assert connect_all(gw, N) == [expected] * N
    assert len(hung.held) >= N  # every attempt reached the hung relay
    if handshakes:
        wait_until(lambda: len(hung.received) >= N, "every CONNECT at the mute relay")
    try:
        wait_until(lambda: descriptors(gw) <= before + SLACK,
                   f"the gateway's descriptors back to {before} (+{SLACK})")
    finally:
        print(f"\n{case}: descriptors {before} before {N} attempts, {descriptors(gw)} after")


def test_abandoned_https_attempt_sends_no_connect_after_a_late_handshake(certs, cleanup,
                                                                         tmp_path):
    """The relay's TLS front completes its handshake only after the gateway answered the
    agent 504: the abandoned attempt must not send its CONNECT (nor credentials)."""
    hung = HungRelay(tls_server_context(certs), delay=2.5)
    cleanup.append(hung)
    cfg = base_config(free_port())
    cfg["limits"] = {**cfg["limits"], "connect_timeout_s": 1}
    cfg["relay_proxy"] = {"address": hung.address("https"), "ca_file": certs.ca,
                          "auth": "basic", "username": "svc-omsgw",
                          "password_file": password_file(tmp_path / "relay.pw", "Pw-late-2")}
    gw = Gateway(str(tmp_path / "gw"), cfg)
    cleanup.append(gw)
    assert connect_all(gw, 1) == [504]
    wait_until(lambda: len(hung.received) == 1, "the late handshake's end")
    assert hung.received == [b""]

