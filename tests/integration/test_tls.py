"""SPEC.md "Behaviour on the wire", TLS paragraph (issue 3): the real binary inspects real
handshakes between `openssl s_client -proxy` / curl and an `openssl s_server` that
requests (but does not require) a client certificate, so every refusal seen here is the
gateway's. Each case checks the client's outcome, the event line and the exact
omsgw_rejections_total / omsgw_report_would_deny_total vector scraped from /metrics."""
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.request

import pytest

from gwtest import (Certs, EchoServer, Gateway, base_config, free_port, proxy_connect,
                    read_until_closed, stop_process, wait_port)

# OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1/MD5 signatures) above security level 0, on both ends.
LEGACY = "DEFAULT@SECLEVEL=0"
REASONS = ("host", "port", "client", "limit", "tls_version", "sni_mismatch", "client_cert",
           "not_tls", "tls_parse")
PAGE = b"HTTP/1.0 200 ok"  # first line of every s_server -www answer

# A TLS record holding a ClientHello too short to parse (RFC 8446 4.1.2): event 402.
GARBAGE_HELLO = bytes([22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0])
# A handshake message declaring 128 KiB, over the 64 KiB the gateway buffers.
HUGE_HELLO = bytes([22, 3, 1, 0, 4, 1, 2, 0, 0])
# The start of an SSL 2.0-format ClientHello (RFC 5246 E.2): 2-byte length, type 1.
SSL2_HELLO = bytes([0x80, 0x2E, 1, 0, 2, 0, 0x15, 0, 0, 0, 0x10])


class SServer:
    """openssl s_server -www on loopback, asking for an optional client certificate
    (-verify 1) and allowing TLS 1.0-1.3."""

    def __init__(self, certs, log_path):
        self.port = free_port()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", certs.server,
             "-key", certs.server_key, "-CAfile", certs.ca, "-verify", "1", "-cipher", LEGACY,
             "-www"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port("127.0.0.1", self.port)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tls")
    certs = Certs(str(root / "certs"))
    clients = {
        "agent01": certs.issue("agent01", "/CN=agent01"),
        "agent01_org": certs.issue("agent01_org", "/O=Contoso/CN=agent01"),
        "agent02": certs.issue("agent02", "/C=US/O=Contoso/CN=agent02"),
        "agent03": certs.issue("agent03", "/C=US/O=Contoso/CN=agent03"),
    }
    server = SServer(certs, str(root / "s_server.log"))
    plain = EchoServer(None, mode="halfclose")
    yield {"certs": certs, "clients": clients, "server": server, "plain": plain}
    plain.stop()
    server.stop()


@pytest.fixture
def start_gw(env, tmp_path):
    """Starts a gateway with tls.inspect on (min_version 1.2) plus the given overrides."""
    started = []

    def start(tls=None, ports=(), **overrides):
        port = free_port()
        cfg = base_config(port, allowed_ports=[env["server"].port, env["plain"].port, *ports],
                          tls={"inspect": True, "min_version": "1.2", **(tls or {})},
                          **overrides)
        g = Gateway(str(tmp_path / f"gw{len(started)}"), cfg)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


def s_client(env, gw, *args, cert=None):
    """One GET through the tunnel with openssl s_client; returns (answer, stderr)."""
    cmd = ["openssl", "s_client", "-proxy", f"127.0.0.1:{gw.port}",
           "-connect", f"allowed.test:{env['server'].port}", "-CAfile", env["certs"].ca,
           "-quiet", *args]
    if cert:
        key, crt = env["clients"][cert]
        cmd += ["-cert", crt, "-key", key]
    r = subprocess.run(cmd, input=b"GET / HTTP/1.0\r\n\r\n", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return r.stdout, r.stderr.decode(errors="replace")


def curl(env, gw, *args):
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-x", f"http://127.0.0.1:{gw.port}",
                        "--cacert", env["certs"].ca, *args,
                        f"https://allowed.test:{env['server'].port}/"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def tunnel(gw, port, data, shut=False):
    """CONNECT, send data after the 200, return what comes back until the close."""
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{port}", timeout=20)
    try:
        assert status == 200, head
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        return read_until_closed(s)
    finally:
        s.close()


def client_hello(server_name="allowed.test"):
    """The bytes of a real ClientHello (Python's ssl module, no socket)."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


# ---- /metrics, parsed line by line (Prometheus text format 0.0.4) ----------------------

SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[^}\"]|\"(?:[^\"\\]|\\.)*\")*)\})?"
                    r" (\S+)(?: -?\d+)?")
LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\]|\\.)*)\"")


def scrape(gw):
    url = f"http://127.0.0.1:{gw.config['admin']['port']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.fullmatch(line)
        assert m, f"not a sample line: {line!r}"
        labels = m.group(2) or ""
        pairs = LABEL.findall(labels)
        assert ",".join(f'{k}="{v}"' for k, v in pairs) == labels.rstrip(","), line
        samples[(m.group(1), tuple(sorted(pairs)))] = float(m.group(3))
    return samples


def by_reason(gw, name):
    return {dict(labels)["reason"]: value for (n, labels), value in scrape(gw).items()
            if n == name}


def assert_counts(gw, rejections=None, would_deny=None):
    """The whole reason vector of both counters, exactly."""
    assert by_reason(gw, "omsgw_rejections_total") == \
        {r: float((rejections or {}).get(r, 0)) for r in REASONS}
    assert by_reason(gw, "omsgw_report_would_deny_total") == \
        {r: float((would_deny or {}).get(r, 0)) for r in REASONS}


def wait_until(predicate, gw, timeout=10):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, gw.text()
        time.sleep(0.05)


def refusal_events(gw):
    return gw.events(105) + gw.events(106) + gw.events(402)


def msg(line):
    return re.search(r'msg="(.*)"$', line).group(1)


# ---- handshakes that pass -------------------------------------------------------------

@pytest.mark.parametrize("flag,proto,name", [("-tls1_2", b"TLSv1.2", "TLS 1.2"),
                                             ("-tls1_3", b"TLSv1.3", "TLS 1.3")])
def test_tls12_and_tls13_pass_with_event_107(env, start_gw, flag, proto, name):
    gw = start_gw()
    out, err = s_client(env, gw, flag)
    assert out.startswith(PAGE), err
    assert b"Protocol  : " + proto + b"\n" in out
    line = gw.wait_event(107)
    assert msg(line) == f"TLS handshake verified: {name} negotiated"
    gw.wait_event(100, "reason=(client|upstream)_closed")
    assert refusal_events(gw) == []
    assert_counts(gw)


@pytest.mark.parametrize("flags,proto", [(["--tlsv1.2", "--tls-max", "1.2"], b"TLSv1.2"),
                                         (["--tlsv1.3"], b"TLSv1.3")])
def test_curl_gets_the_page_through_an_inspected_tunnel(env, start_gw, flags, proto):
    gw = start_gw()
    rc, out, err = curl(env, gw, *flags)
    assert rc == 0, err
    assert b"Protocol  : " + proto + b"\n" in out
    gw.wait_event(107)
    assert_counts(gw)


# ---- tls.min_version ------------------------------------------------------------------

@pytest.mark.parametrize("min_version,flags,offered", [
    ("1.2", ["-tls1", "-cipher", LEGACY], "TLS 1.0"),
    ("1.2", ["-tls1_1", "-cipher", LEGACY], "TLS 1.1"),
    ("1.3", ["-tls1_2"], "TLS 1.2"),
])
def test_version_below_min_version_is_refused_with_event_106(env, start_gw, min_version, flags,
                                                               offered):
    gw = start_gw(tls={"min_version": min_version})
    out, err = s_client(env, gw, *flags)
    assert PAGE not in out, out
    line = gw.wait_event(106, "reason=tls_version")
    assert msg(line) == f"TLS rejected: client offered {offered}, minimum is TLS {min_version}"
    # Refused on the ClientHello itself: not one byte reached the server.
    gw.wait_event(100, "reason=inspection_reject bytes_up=0 ")
    assert gw.events(107) == []
    assert_counts(gw, rejections={"tls_version": 1})


@pytest.mark.parametrize("flag,proto,name", [("-tls1", b"TLSv1\n", "TLS 1.0"),
                                             ("-tls1_1", b"TLSv1.1\n", "TLS 1.1")])
def test_old_versions_pass_when_min_version_allows_them(env, start_gw, flag, proto, name):
    gw = start_gw(tls={"min_version": "1.0"})
    out, err = s_client(env, gw, flag, "-cipher", LEGACY)
    assert out.startswith(PAGE), err
    assert b"Protocol  : " + proto in out
    assert msg(gw.wait_event(107)) == f"TLS handshake verified: {name} negotiated"
    assert_counts(gw)


# ---- SNI ------------------------------------------------------------------------------

def test_sni_other_than_connect_host_is_refused_with_event_106(env, start_gw):
    gw = start_gw()
    out, _ = s_client(env, gw, "-servername", "other.test")
    assert PAGE not in out
    line = gw.wait_event(106, "reason=sni_mismatch")
    assert msg(line) == "TLS rejected: SNI other.test differs from CONNECT host allowed.test"
    assert_counts(gw, rejections={"sni_mismatch": 1})


@pytest.mark.parametrize("tls,flags", [
    ({"require_sni_match": False}, ["-servername", "other.test"]),
    ({}, ["-noservername"]),
    ({}, ["-servername", "ALLOWED.Test."]),  # compared lower-cased, trailing dot dropped
])
def test_sni_cases_that_pass(env, start_gw, tls, flags):
    gw = start_gw(tls=tls)
    out, err = s_client(env, gw, *flags)
    assert out.startswith(PAGE), err
    gw.wait_event(107)
    assert refusal_events(gw) == []
    assert_counts(gw)


# ---- not TLS, unparseable -------------------------------------------------------------

@pytest.mark.parametrize("data,reason,text", [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not_tls",
     "first record has content type 71, not handshake (22)"),
    (SSL2_HELLO, "tls_version", "SSL 2.0-format ClientHello"),
    (HUGE_HELLO, "tls_parse", "handshake message from client declares 131072 bytes"),
])
def test_bytes_that_are_not_acceptable_tls_are_refused_with_event_106(env, start_gw, data,
                                                                      reason, text):
    gw = start_gw()
    echoed = tunnel(gw, env["plain"].port, data, shut=True)
    assert echoed == b""  # nothing reached the (echo) server
    line = gw.wait_event(106, f"reason={reason}")
    assert msg(line) == f"TLS rejected: {text}"
    assert_counts(gw, rejections={reason: 1})


def test_unparseable_client_hello_gives_event_402(env, start_gw):
    gw = start_gw()
    assert tunnel(gw, env["plain"].port, GARBAGE_HELLO) == b""
    line = gw.wait_event(402, "reason=tls_parse")
    assert msg(line) == "TLS parse error: malformed ClientHello"
    assert_counts(gw, rejections={"tls_parse": 1})


def test_inspect_false_lets_plain_bytes_through(env, start_gw):
    gw = start_gw(tls={"inspect": False})
    data = b"not TLS at all\r\n" * 100
    assert tunnel(gw, env["plain"].port, data, shut=True) == data
    gw.wait_event(100, "reason=(client|upstream)_closed")
    assert refusal_events(gw) == [] and gw.events(107) == []
    assert_counts(gw)


# ---- client certificates --------------------------------------------------------------

CERT_LIST = ["CN=agent01", "C=US, O=Contoso, CN=agent03"]


@pytest.mark.parametrize("cert,subject", [
    ("agent01", "CN=agent01"),
    ("agent01_org", "CN=agent01,O=Contoso"),  # a CN-only entry matches any subject with it
    ("agent03", "CN=agent03,O=Contoso,C=US"),  # full entry, written in openssl order
])
def test_tls12_allowed_client_certificate_passes(env, start_gw, cert, subject):
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    out, err = s_client(env, gw, "-tls1_2", cert=cert)
    assert out.startswith(PAGE), err
    line = gw.wait_event(107)
    assert msg(line) == f"TLS handshake verified: TLS 1.2 negotiated; client certificate {subject} allowed"
    assert_counts(gw)


@pytest.mark.parametrize("cert,shown", [
    ("agent02", "CN=agent02,O=Contoso,C=US"),
    (None, "no client certificate (empty certificate list)"),
])
def test_tls12_other_or_missing_client_certificate_gives_event_105(env, start_gw, cert, shown):
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    out, _ = s_client(env, gw, "-tls1_2", cert=cert)
    assert PAGE not in out
    line = gw.wait_event(105, "reason=client_cert")
    assert msg(line) == f"Invalid client certificate: {shown}"
    assert gw.events(107) == []
    assert_counts(gw, rejections={"client_cert": 1})


def test_a_subject_entry_without_cn_is_refused_with_its_line(env, tmp_path):
    # "agent01" is not a subject (no "CN="): it would match no certificate and refuse
    # every agent, so the gateway does not start on it and names the entry and its line.
    cfg = base_config(free_port(), allowed_client_certificates=["CN=agent02", "agent01"])
    g = Gateway(str(tmp_path / "gw"), cfg, wait=False)
    assert g.proc.wait(30) != 0, g.text()
    assert re.search(r"allowed_client_certificates\[1\].*is not a certificate subject", g.text()), \
        g.text()


def test_tls12_resumed_session_shows_no_certificate_and_is_refused(env, start_gw, tmp_path):
    # An abbreviated TLS 1.2 handshake (RFC 5246 7.3) carries no Certificate, so with a
    # subject list the gateway cannot check it and refuses it (fail closed).
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    session = str(tmp_path / "session.pem")
    out, err = s_client(env, gw, "-tls1_2", "-sess_out", session, cert="agent01")
    assert out.startswith(PAGE), err
    out, _ = s_client(env, gw, "-tls1_2", "-sess_in", session, cert="agent01")
    assert PAGE not in out
    line = gw.wait_event(105, "reason=client_cert")
    assert msg(line) == "Invalid client certificate: no client certificate (resumed session)"
    assert_counts(gw, rejections={"client_cert": 1})


def test_tls13_with_a_subject_list_passes_with_event_100_when_allowed(env, start_gw):
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    out, err = s_client(env, gw, "-tls1_3", cert="agent02")  # not on the list: unseen
    assert out.startswith(PAGE), err
    gw.wait_event(100, "could not be checked")
    assert "client certificate not verifiable" in msg(gw.wait_event(107))
    assert refusal_events(gw) == []
    assert_counts(gw)


def test_tls13_with_a_subject_list_is_refused_when_unverifiable_is_reject(env, start_gw):
    gw = start_gw(allowed_client_certificates=CERT_LIST, tls={"unverifiable_client_cert": "reject"})
    out, _ = s_client(env, gw, "-tls1_3", cert="agent01")
    assert PAGE not in out
    line = gw.wait_event(105, "reason=client_cert")
    assert "cannot be verified" in msg(line)
    assert gw.events(107) == []
    assert_counts(gw, rejections={"client_cert": 1})


def test_alert_before_a_verdict_is_logged_without_a_refusal(env, start_gw):
    # The client rejects the server's certificate (not for the name it expects) with a
    # fatal alert before sending its own Certificate: the handshake ends without a verdict
    # of the gateway, which logs it (event 100) and counts nothing.
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    out, _ = s_client(env, gw, "-tls1_2", "-verify_hostname", "nothere.test",
                      "-verify_return_error", cert="agent01")
    assert PAGE not in out
    line = gw.wait_event(100, "TLS handshake ended")
    assert msg(line) == ("TLS handshake ended: fatal alert bad_certificate (42) from client "
                         "before a verdict")
    gw.wait_event(100, "tunnel closed")
    assert refusal_events(gw) == [] and gw.events(107) == []
    assert_counts(gw)


# ---- nothing but the handshake before the verdict -------------------------------------
# Two fail-open holes an audit reproduced: an alert before the verdict ended inspection
# and the tunnel then carried anything until the handshake timeout; and a ClientHello
# offering early data let the client push any amount to the server before the verdict.
# A hand-made upstream that speaks no TLS of its own records what reaches it.

def tls_record(content_type, body, version=0x0303):
    return struct.pack("!BHH", content_type, version, len(body)) + body


def tls_message(msg_type, body):
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def tls_extension(ext_type, data):
    return struct.pack("!HH", ext_type, len(data)) + data


def hand_client_hello(early_data):
    """A TLS 1.3 ClientHello for allowed.test (RFC 8446 4.1.2), with the early_data
    extension (RFC 8446 4.2.10) when asked."""
    name = b"allowed.test"
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    exts = (tls_extension(0, struct.pack("!H", len(entry)) + entry)
            + tls_extension(43, b"\x04\x03\x04\x03\x03")
            + (tls_extension(42, b"") if early_data else b""))
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    return tls_record(22, tls_message(1, body), 0x0301)


def hand_server_hello(version):
    """A ServerHello choosing `version` (0x0304: through supported_versions)."""
    exts = tls_extension(43, struct.pack("!H", version)) if version >= 0x0304 else b""
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + (b"\x13\x01" if exts else b"\xc0\x2f")
            + b"\x00" + (struct.pack("!H", len(exts)) + exts if exts else b""))
    return tls_record(22, tls_message(2, body))


CLOSE_NOTIFY = bytes([21, 3, 3, 0, 2, 1, 0])
HANDSHAKE_FAILURE = bytes([21, 3, 3, 0, 2, 2, 40])
SSH_CLIENT = b"SSH-2.0-evil_1.0\r\n"
SSH_SERVER = b"SSH-2.0-upstream_1.0\r\n"


def first_record_len(data):
    return 5 + struct.unpack("!H", data[3:5])[0] if len(data) >= 5 else None


class RecordingUpstream:
    """A TCP server on loopback that records every byte each connection brings. Once the
    first record (the ClientHello) is in, it waits `delay` seconds, notes what it has
    received by then (`before_answer`) and sends `answer`; it answers SSH_SERVER to
    anything containing "SSH-2.0-". It speaks no TLS of its own."""

    def __init__(self, answer=b"", delay=0.0):
        self.answer, self.delay = answer, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.before_answer = None
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        answered = ssh_answered = False
        conn.settimeout(0.1)
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                self.received += chunk
                n = first_record_len(self.received)
                if not answered and n is not None and len(self.received) >= n:
                    answered = True
                    time.sleep(self.delay)
                    try:
                        while chunk := conn.recv(65536):  # what arrived in the meantime
                            self.received += chunk
                    except (socket.timeout, BlockingIOError):
                        pass
                    self.before_answer = bytes(self.received)
                    if self.answer:
                        conn.sendall(self.answer)
                if not ssh_answered and b"SSH-2.0-" in self.received:
                    ssh_answered = True
                    conn.sendall(SSH_SERVER)
        self.closed.set()

    def stop(self):
        self.sock.close()


@pytest.fixture
def upstreams():
    made = []

    def make(**kw):
        made.append(RecordingUpstream(**kw))
        return made[-1]

    yield make
    for u in made:
        u.stop()


def recv_exact_or_close(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


def test_client_alert_before_the_verdict_is_passed_on_then_the_tunnel_closes(start_gw, upstreams):
    # TLS 1.2 chosen with a subject list: the gateway waits for the client's Certificate.
    # The client sends close_notify, then plaintext: the alert reaches the server, the
    # plaintext does not, and the tunnel closes at once (not at the handshake timeout).
    up = upstreams(answer=hand_server_hello(0x0303))
    gw = start_gw(ports=[up.port], allowed_client_certificates=CERT_LIST,
                  limits={"handshake_timeout_s": 10})
    hello = client_hello()
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{up.port}", timeout=20)
    with s:
        assert status == 200, head
        s.sendall(hello)
        assert recv_exact_or_close(s, len(up.answer)) == up.answer
        started = time.monotonic()
        s.sendall(CLOSE_NOTIFY + SSH_CLIENT)
        rest = read_until_closed(s)
        took = time.monotonic() - started
    assert rest == b""  # in particular not SSH_SERVER
    assert took < 5, took
    assert up.closed.wait(5)
    assert bytes(up.received) == hello + CLOSE_NOTIFY
    line = gw.wait_event(100, "TLS handshake ended")
    assert msg(line) == ("TLS handshake ended: warning alert close_notify (0) from client "
                         "before a verdict")
    line = gw.wait_event(100, "tunnel closed")
    assert "reason=tls_alert " in line and f"bytes_up={len(hello) + 7} " in line, line
    assert refusal_events(gw) == [] and gw.events(107) == []
    assert_counts(gw)


def test_server_alert_before_the_verdict_is_passed_on_then_the_tunnel_closes(start_gw,
                                                                            upstreams):
    # The server answers the ClientHello with a fatal alert and plaintext in one write;
    # the client then sends plaintext: only the alert crosses.
    up = upstreams(answer=HANDSHAKE_FAILURE + SSH_SERVER)
    gw = start_gw(ports=[up.port], limits={"handshake_timeout_s": 10})
    hello = client_hello()
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{up.port}", timeout=20)
    with s:
        assert status == 200, head
        started = time.monotonic()
        s.sendall(hello)
        got = recv_exact_or_close(s, len(HANDSHAKE_FAILURE))
        try:
            s.sendall(SSH_CLIENT)
        except OSError:
            pass  # already closed: what this test wants
        got += read_until_closed(s)
        took = time.monotonic() - started
    assert got == HANDSHAKE_FAILURE
    assert took < 5, took
    assert up.closed.wait(5)
    assert bytes(up.received) == hello
    line = gw.wait_event(100, "TLS handshake ended")
    assert msg(line) == ("TLS handshake ended: fatal alert handshake_failure (40) from server "
                         "before a verdict")
    gw.wait_event(100, "reason=tls_alert ")
    assert refusal_events(gw) == [] and gw.events(107) == []
    assert_counts(gw)


def test_bytes_after_the_client_hello_wait_for_the_servers_answer(start_gw, upstreams):
    # The audit's reproduction: ClientHello, close_notify, plaintext in one go, to an
    # upstream that never answers in TLS. Nothing after the ClientHello may cross before
    # the server has answered it; the handshake timeout ends the tunnel.
    up = upstreams()
    gw = start_gw(ports=[up.port], limits={"handshake_timeout_s": 2})
    hello = client_hello()
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{up.port}", timeout=20)
    with s:
        assert status == 200, head
        s.sendall(hello + CLOSE_NOTIFY + SSH_CLIENT)
        assert read_until_closed(s) == b""
    assert up.closed.wait(5)
    assert bytes(up.received) == hello
    gw.wait_event(100, f"reason=handshake_timeout bytes_up={len(hello)} bytes_down=0 ")
    assert refusal_events(gw) == [] and gw.events(107) == []
    assert_counts(gw)


EARLY_RECORDS, EARLY_SIZE = 64, 16000


@pytest.mark.parametrize("server_answers", [False, True])
def test_early_data_waits_for_the_server_hello(start_gw, upstreams, server_answers):
    # A ClientHello offering early data, then 64 records of 16,000 bytes (1 MB). None of
    # it reaches the server before the server has answered; once a TLS 1.3 ServerHello is
    # verified it all flows (no deadlock); with no answer the handshake timeout ends it.
    up = upstreams(answer=hand_server_hello(0x0304) if server_answers else b"", delay=0.5)
    gw = start_gw(ports=[up.port], limits={"handshake_timeout_s": 3})
    hello = hand_client_hello(early_data=True)
    early = b"".join(tls_record(23, os.urandom(EARLY_SIZE)) for _ in range(EARLY_RECORDS))
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{up.port}", timeout=20)
    with s:
        assert status == 200, head
        sender = threading.Thread(target=lambda: s.sendall(hello + early), daemon=True)
        sender.start()
        if server_answers:
            assert recv_exact_or_close(s, len(up.answer)) == up.answer
            deadline = time.time() + 10
            while len(up.received) < len(hello + early) and time.time() < deadline:
                time.sleep(0.05)
            assert bytes(up.received) == hello + early
            gw.wait_event(107, "TLS 1.3 negotiated")
        else:
            assert read_until_closed(s) == b""
        sender.join(10)
    assert up.before_answer == hello
    if not server_answers:
        assert up.closed.wait(5)
        assert bytes(up.received) == hello
        gw.wait_event(100, f"reason=handshake_timeout bytes_up={len(hello)} ")
    assert refusal_events(gw) == []
    assert_counts(gw)


# ---- limits.handshake_timeout_s -------------------------------------------------------

@pytest.mark.parametrize("mode", ["enforce", "report"])
def test_stalled_handshake_is_cut_after_handshake_timeout(env, start_gw, mode):
    # A limit, not a TLS rule: it applies in report mode too, logs the tunnel's close
    # (event 100, reason handshake_timeout) and is not a rejection.
    gw = start_gw(mode=mode, limits={"handshake_timeout_s": 2})
    hello = client_hello()
    assert tunnel(gw, env["server"].port, hello[: len(hello) // 2]) == b""
    line = gw.wait_event(100, "reason=handshake_timeout")
    assert "TLS handshake not finished within limits.handshake_timeout_s" in msg(line)
    assert refusal_events(gw) == []
    assert_counts(gw)


# ---- mode: report ---------------------------------------------------------------------

@pytest.mark.parametrize("case,event,reason", [
    ("old_version", 106, "tls_version"),
    ("sni", 106, "sni_mismatch"),
    ("other_cert", 105, "client_cert"),
    ("no_cert", 105, "client_cert"),
    ("tls13_reject", 105, "client_cert"),
])
def test_report_mode_lets_tls_refusals_through_with_would_deny(env, start_gw, case, event,
                                                                reason):
    gw = start_gw(mode="report", allowed_client_certificates=CERT_LIST,
                  tls={"unverifiable_client_cert": "reject"})
    args = {"old_version": (["-tls1", "-cipher", LEGACY], "agent01"),
            "sni": (["-tls1_2", "-servername", "other.test"], "agent01"),
            "other_cert": (["-tls1_2"], "agent02"),
            "no_cert": (["-tls1_2"], None),
            "tls13_reject": (["-tls1_3"], "agent01")}[case]
    out, err = s_client(env, gw, *args[0], cert=args[1])
    assert out.startswith(PAGE), err
    gw.wait_event(event, f"reason={reason} would_deny=true")
    gw.wait_event(100, "reason=(client|upstream)_closed")
    assert_counts(gw, would_deny={reason: 1})


def test_report_mode_lets_plain_bytes_through_with_would_deny(env, start_gw):
    gw = start_gw(mode="report")
    data = b"plain text, not TLS\n"
    assert tunnel(gw, env["plain"].port, data, shut=True) == data
    gw.wait_event(106, "reason=not_tls would_deny=true")
    assert_counts(gw, would_deny={"not_tls": 1})


@pytest.mark.parametrize("data,event", [(GARBAGE_HELLO, 402), (HUGE_HELLO, 106)])
def test_report_mode_still_refuses_malformed_or_oversized_handshakes(env, start_gw, data, event):
    # SPEC: in report mode "limits and malformed input still apply".
    gw = start_gw(mode="report")
    assert tunnel(gw, env["plain"].port, data) == b""
    line = gw.wait_event(event, "reason=tls_parse")
    assert "would_deny" not in line
    gw.wait_event(100, "reason=inspection_reject")
    assert_counts(gw, rejections={"tls_parse": 1})


# ---- counters after a mix of cases ----------------------------------------------------

def test_rejection_counters_add_up_over_several_tunnels(env, start_gw):
    gw = start_gw(allowed_client_certificates=CERT_LIST)
    s_client(env, gw, "-tls1", "-cipher", LEGACY, cert="agent01")
    s_client(env, gw, "-tls1_2", "-servername", "other.test", cert="agent01")
    s_client(env, gw, "-tls1_2", cert="agent02")
    s_client(env, gw, "-tls1_2")
    tunnel(gw, env["plain"].port, b"hello\n", shut=True)
    tunnel(gw, env["plain"].port, GARBAGE_HELLO)
    out, err = s_client(env, gw, "-tls1_2", cert="agent01")
    assert out.startswith(PAGE), err
    gw.wait_event(107)
    wait_until(lambda: len(gw.events(105)) == 2 and len(gw.events(106)) == 3
               and len(gw.events(402)) == 1, gw)
    assert_counts(gw, rejections={"tls_version": 1, "sni_mismatch": 1, "client_cert": 2,
                                  "not_tls": 1, "tls_parse": 1})
