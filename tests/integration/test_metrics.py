"""SPEC.md "Counters", "Admin endpoint" and PerfMon, through the real binary: after known
traffic, /metrics (parsed as Prometheus text), /status (parsed as JSON), the PerfMon
PDH-CSV log (parsed with the csv module) and a real Prometheus server scraping the
admin port all show exactly the expected figures (issue 6: observability).

Known traffic: three live TLS tunnels from 127.0.0.1, two CONNECTs to a host not
allowed (403, reason host) and one tunnel whose client speaks plain HTTP instead of TLS
(tls.inspect: true, reason not_tls).
"""
import csv
import hashlib
import http.client
import io
import json
import math
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import datetime

import pytest

from gwtest import (Certs, EchoServer, Gateway, base_config, free_port, proxy_connect,
                    raw_request, read_until_closed, status_of, stop_process)

# Upper bounds on waits that normally end far sooner; never asserted as timings.
WAIT_S = 15
PROMETHEUS_WAIT_S = 30
PROMETHEUS_START_S = 120
PROMETHEUS = "/usr/bin/prometheus"

REASONS = ["host", "port", "client", "limit", "tls_version", "sni_mismatch", "client_cert",
           "not_tls", "tls_parse"]
PERFMON_COUNTERS = ["Active Client Connection", "Error Count", "Connected Client",
                    "Rejection Count"]


# --- Prometheus text exposition format (version 0.0.4) -------------------------------

METRIC_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class Exposition:
    """The samples and metadata of one /metrics answer."""

    def __init__(self):
        self.samples = {}  # (name, frozenset of (label, value)) -> float
        self.types = {}    # family name -> counter | gauge | histogram | ...
        self.helps = {}

    def value(self, name, **labels):
        return self.samples[(name, frozenset(labels.items()))]

    def series(self, name):
        """{frozenset(labels): value} of every sample called name."""
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


def parse_float(text):
    special = {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    return special[text] if text in special else float(text)


def parse_label_value(line, i):
    """Reads a double-quoted label value at line[i]; returns (value, index after it)."""
    assert line[i] == '"', f"label value must be quoted: {line!r}"
    i += 1
    out = []
    while True:
        c = line[i]
        if c == "\\":
            nxt = line[i + 1]
            out.append({"\\": "\\", '"': '"', "n": "\n"}[nxt])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1


def parse_prometheus(text):
    """A strict parser for `name{label="value",...} value [timestamp]` lines and their
    # HELP / # TYPE comments; anything malformed fails the test."""
    expo = Exposition()
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                expo.types[parts[2]] = parts[3]
            elif len(parts) >= 3 and parts[1] == "HELP":
                expo.helps[parts[2]] = parts[3] if len(parts) > 3 else ""
            continue
        m = METRIC_NAME_RE.match(line)
        assert m, f"bad metric line {line!r}"
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while line[i] != "}":
                lm = LABEL_NAME_RE.match(line, i)
                assert lm and line[lm.end()] == "=", f"bad label in {line!r}"
                value, i = parse_label_value(line, lm.end() + 1)
                assert lm.group(0) not in labels, f"duplicate label in {line!r}"
                labels[lm.group(0)] = value
                if line[i] == ",":
                    i += 1
            i += 1
        rest = line[i:].split()
        assert line[i] == " " and len(rest) in (1, 2), f"bad value part in {line!r}"
        key = (name, frozenset(labels.items()))
        assert key not in expo.samples, f"duplicate sample {line!r}"
        expo.samples[key] = parse_float(rest[0])
    return expo


def test_the_exposition_parser_reads_labels_escapes_and_special_values():
    expo = parse_prometheus(
        '# HELP a_total Things\n# TYPE a_total counter\n'
        'a_total{x="1",y="q\\"uo\\\\te\\n"} 3\n'
        'b 4.5 1700000000000\n'
        'c_bucket{le="+Inf"} +Inf\n')
    assert expo.types == {"a_total": "counter"}
    assert expo.value("a_total", x="1", y='q"uo\\te\n') == 3
    assert expo.value("b") == 4.5
    assert expo.value("c_bucket", le="+Inf") == math.inf
    with pytest.raises(AssertionError):
        parse_prometheus("bad{x=1} 2\n")


# --- admin endpoint helpers ----------------------------------------------------------

def admin_port(gw):
    return gw.config["admin"]["port"]


def admin(gw, method, path, body=None):
    """One request on a fresh connection: (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", admin_port(gw), timeout=10)
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def scrape(gw):
    status, headers, body = admin(gw, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse_prometheus(body.decode("utf-8"))


def status_doc(gw):
    status, headers, body = admin(gw, "GET", "/status")
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    return json.loads(body)


def wait_for(what, fn, timeout=WAIT_S, interval=0.1):
    """Polls fn until it returns a truthy value (returned), or fails naming `what`."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
        except (OSError, http.client.HTTPException) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}; last: {last!r}")


def expected_samples(version, active, clients, rejections, connect_requests,
                     connect_count, tunnel_count):
    """Every sample /metrics must show, with its exact value (bytes and histogram
    buckets/sums are checked separately)."""
    exp = {
        ("omsgw_active_client_connections", frozenset()): active,
        ("omsgw_connected_clients", frozenset()): clients,
        ("omsgw_errors_total", frozenset()): 0,
        ("omsgw_connect_requests_total", frozenset()): connect_requests,
        ("omsgw_config_reloads_total", frozenset({("result", "success")})): 0,
        ("omsgw_config_reloads_total", frozenset({("result", "failure")})): 0,
        ("omsgw_build_info", frozenset({("version", version)})): 1,
        ("omsgw_connect_duration_seconds_count", frozenset()): connect_count,
        ("omsgw_tunnel_duration_seconds_count", frozenset()): tunnel_count,
    }
    for reason in REASONS:
        exp[("omsgw_rejections_total", frozenset({("reason", reason)}))] = rejections.get(reason, 0)
        exp[("omsgw_report_would_deny_total", frozenset({("reason", reason)}))] = 0
    return exp


def actual_of(expo, expected):
    return {k: expo.samples.get(k) for k in expected}


def wait_exact(gw, what, expected):
    """Waits until /metrics shows every expected sample; fails with the differences."""
    diff = {}

    def settled():
        actual = actual_of(scrape(gw), expected)
        diff.clear()
        diff.update({f"{n}{dict(l)}": (actual[(n, l)], want)
                     for (n, l), want in expected.items() if actual[(n, l)] != want})
        return not diff
    try:
        wait_for(what, settled)
    except AssertionError:
        raise AssertionError(f"{what}: (actual, expected) differ: {diff}") from None


# --- PerfMon log ---------------------------------------------------------------------

def read_perfmon(path):
    """(header cells, data rows) of the PDH-CSV log; checks CRLF record ends."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw.endswith(b"\r\n"), raw[-40:]
    assert b"\n" not in raw.replace(b"\r\n", b""), "a record ends without CR LF"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    return rows[0], rows[1:]


def check_perfmon_header(header):
    assert re.fullmatch(r"\(PDH-CSV 4\.0\) \(.+\)\(-?\d+\)", header[0]), header[0]
    host = socket.gethostname()
    assert header[1:] == [f"\\\\{host}\\OMS Gateway\\{c}" for c in PERFMON_COUNTERS]


def perfmon_stamp(cell):
    return datetime.strptime(cell, "%m/%d/%Y %H:%M:%S.%f")


def perfmon_rows(path):
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    header, rows = read_perfmon(path)
    check_perfmon_header(header)
    for r in rows:
        assert len(r) == 5, r
        perfmon_stamp(r[0])
    return rows


# --- a real Prometheus server --------------------------------------------------------

class Prometheus:
    """/usr/bin/prometheus on loopback scraping one target every second."""

    def __init__(self, directory, target):
        if not os.access(PROMETHEUS, os.X_OK):
            pytest.fail("prometheus not found: install the Debian `prometheus` package "
                        "(scripts/setup-deps)")
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        conf = os.path.join(directory, "prometheus.yml")
        with open(conf, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: omsgw
    static_configs:
      - targets: ["{target}"]
""")
        self.log = open(os.path.join(directory, "prometheus.log"), "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={conf}",
             f"--storage.tsdb.path={os.path.join(directory, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=directory)
        self.dir = directory
        self.wait_ready()

    def wait_ready(self, timeout=PROMETHEUS_START_S):
        """Waits for /-/ready, so a slow start (a loaded CI machine) is told apart from
        a scrape that never shows the figures; a failure carries Prometheus's own log."""
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited:\n" + self.text())
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5) as r:
                return r.status == 200
        try:
            wait_for(f"prometheus on 127.0.0.1:{self.port} to be ready", ready,
                     timeout=timeout, interval=0.2)
        except AssertionError as e:
            raise AssertionError(f"{e}\nprometheus log:\n{self.text()}") from None

    def query(self, expr):
        """The instant vector of expr: [(labels, value)]."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return [(s["metric"], float(s["value"][1])) for s in doc["data"]["result"]]

    def wait_value(self, expr, want, timeout=PROMETHEUS_WAIT_S):
        def check():
            if self.proc.poll() is not None:
                raise AssertionError("prometheus exited:\n" + self.text())
            res = self.query(expr)
            return res if len(res) == 1 and res[0][1] == want else None
        try:
            return wait_for(f"prometheus: {expr} == {want}", check, timeout=timeout, interval=0.5)
        except AssertionError as e:
            raise AssertionError(f"{e}\nprometheus log:\n{self.text()}") from None

    def text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        stop_process(self.proc, 20)
        self.log.close()


# --- the known-traffic scenario ------------------------------------------------------

def open_tls_tunnel(gw, echo_port, ca):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo_port}")
    assert status == 200, head
    ctx = ssl.create_default_context(cafile=ca)
    return ctx.wrap_socket(s, server_hostname="allowed.test")


def close_gracefully(t):
    """Ends a tunnel the way an agent does: FIN, read what is left (TLS 1.3 session
    tickets), then close -- closing with unread data would send a reset, which the
    gateway rightly counts as a network error."""
    t.shutdown(socket.SHUT_WR)  # also drops the TLS layer: raw reads from here on
    read_until_closed(t)
    t.close()


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics")
    os.chmod(root, 0o755)
    certs = Certs(str(root / "certs"))
    echo = EchoServer(certs)
    csv_path = str(root / "omsgw.csv")
    cfg = base_config(free_port(), allowed_ports=[echo.port], allowed_hosts=["allowed.test"],
                      tls={"inspect": True, "min_version": "1.2"},
                      perfmon={"csv_file": csv_path, "interval_s": 1},
                      log={"level": "info"})
    gw = Gateway(str(root / "gw"), cfg)
    prom = Prometheus(str(root / "prometheus"), f"127.0.0.1:{admin_port(gw)}")
    tunnels = []
    try:
        # Three live TLS tunnels from 127.0.0.1 (handshake verified: event 107).
        for _ in range(3):
            tunnels.append(open_tls_tunnel(gw, echo.port, certs.ca))
        # Two CONNECTs to a host that is not allowed: 403, reason host.
        for _ in range(2):
            resp = raw_request("127.0.0.1", gw.port,
                               f"CONNECT other.test:{echo.port} HTTP/1.1\r\n\r\n".encode())
            assert status_of(resp) == 403, resp
        # One tunnel whose client speaks plain HTTP: closed, event 106, reason not_tls.
        s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{echo.port}")
        assert status == 200, head
        s.sendall(b"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
        assert read_until_closed(s) == b""
        s.close()
        gw.wait_event(106, "reason=not_tls")
        yield {"gw": gw, "prom": prom, "tunnels": tunnels, "csv": csv_path, "echo": echo,
               "config_text": open(gw.config_path, "rb").read()}
    finally:
        for t in tunnels:
            t.close()
        prom.stop()
        rc = gw.stop()
        echo.stop()
        assert rc == 0, gw.text()


@pytest.fixture(scope="module")
def live(traffic):
    """The scenario once its figures have settled: the refused sessions are gone and
    the not_tls tunnel is closed (the gauges move when the listener sees a session end)."""
    gw = traffic["gw"]
    version = status_doc(gw)["version"]
    exp = expected_samples(version, active=3, clients=1, rejections={"host": 2, "not_tls": 1},
                           connect_requests=6, connect_count=4, tunnel_count=1)
    wait_exact(gw, "/metrics with 3 live tunnels", exp)
    return {**traffic, "version": version, "expected": exp}


def test_metrics_show_exactly_the_known_traffic(live):
    expo = scrape(live["gw"])
    assert actual_of(expo, live["expected"]) == live["expected"]
    # No other label values than SPEC.md's reasons, directions and results.
    assert {dict(l)["reason"] for l in expo.series("omsgw_rejections_total")} == set(REASONS)
    assert {dict(l)["direction"] for l in expo.series("omsgw_bytes_total")} == \
        {"to_upstream", "to_client"}


def test_metric_families_have_the_spec_types(live):
    expo = scrape(live["gw"])
    assert expo.types == {
        "omsgw_active_client_connections": "gauge",
        "omsgw_connected_clients": "gauge",
        "omsgw_errors_total": "counter",
        "omsgw_rejections_total": "counter",
        "omsgw_report_would_deny_total": "counter",
        "omsgw_connect_requests_total": "counter",
        "omsgw_bytes_total": "counter",
        "omsgw_connect_duration_seconds": "histogram",
        "omsgw_tunnel_duration_seconds": "histogram",
        "omsgw_config_reloads_total": "counter",
        "omsgw_build_info": "gauge",
        # Issue 15 defect 6 (SPEC is silent; named in README "Metrics").
        "omsgw_dns_lookups_total": "counter",
        "omsgw_dns_lookup_seconds": "histogram",
    }
    # A histogram's +Inf bucket equals its count.
    for h in ("omsgw_connect_duration_seconds", "omsgw_tunnel_duration_seconds"):
        assert expo.value(h + "_bucket", le="+Inf") == expo.value(h + "_count")


def test_status_json_has_the_same_figures_and_config(live):
    doc = status_doc(live["gw"])
    assert doc["version"] == live["version"]
    assert doc["active_client_connections"] == 3
    assert doc["connected_clients"] == 1
    assert doc["error_count"] == 0
    assert doc["rejection_count"] == 3
    assert doc["connect_requests"] == 6
    assert doc["config_version"] == 1
    assert doc["config_hash"] == hashlib.sha256(live["config_text"]).hexdigest()[:12]
    assert doc["mode"] == "enforce"
    assert doc["draining"] is False
    assert doc["uptime_seconds"] > 0
    assert doc["relay_proxy"] == "direct"
    assert doc["perfmon"] == {"csv_file": live["csv"], "interval_s": 1}


def test_head_status_answers_headers_only(live):
    status, headers, body = admin(live["gw"], "HEAD", "/status")
    assert status == 200 and body == b""
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) > 0


def test_perfmon_log_has_the_header_and_advancing_rows(live):
    path = live["csv"]
    want = ["3", "0", "1", "3"]  # Active, Error Count, Connected, Rejection Count
    rows = wait_for("two PerfMon rows showing the live tunnels",
                    lambda: (lambda r: r if sum(x[1:] == want for x in r) >= 2 else None)(
                        perfmon_rows(path)))
    stamps = [perfmon_stamp(r[0]) for r in rows]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    first = len(rows)
    wait_for("the log to keep advancing", lambda: len(perfmon_rows(path)) >= first + 1)


def test_prometheus_scrapes_the_live_figures(live):
    prom = live["prom"]
    prom.wait_value("omsgw_active_client_connections", 3)
    prom.wait_value("omsgw_connected_clients", 1)
    prom.wait_value('omsgw_rejections_total{reason="host"}', 2)
    prom.wait_value("sum(omsgw_rejections_total)", 3)
    prom.wait_value('up{job="omsgw"}', 1)


@pytest.fixture(scope="module")
def closed(live):
    """The scenario after the three tunnels were closed by their clients."""
    for t in live["tunnels"]:
        close_gracefully(t)
    live["tunnels"].clear()
    exp = expected_samples(live["version"], active=0, clients=0,
                           rejections={"host": 2, "not_tls": 1}, connect_requests=6,
                           connect_count=4, tunnel_count=4)
    wait_exact(live["gw"], "/metrics with every tunnel closed", exp)
    return {**live, "expected": exp}


def test_metrics_drop_to_zero_when_the_tunnels_close(closed):
    expo = scrape(closed["gw"])
    assert actual_of(expo, closed["expected"]) == closed["expected"]
    # The TLS handshakes crossed the tunnels. (Bytes are counted in batches, and an
    # idle tunnel's last batch only at its end, so this is checked after the close.)
    assert all(v > 0 for v in expo.series("omsgw_bytes_total").values())
    doc = status_doc(closed["gw"])
    assert (doc["active_client_connections"], doc["connected_clients"], doc["error_count"],
            doc["rejection_count"]) == (0, 0, 0, 3)


def test_perfmon_and_prometheus_follow_the_close(closed):
    wait_for("a PerfMon row with the tunnels closed",
             lambda: any(r[1:] == ["0", "0", "0", "3"] for r in perfmon_rows(closed["csv"])))
    closed["prom"].wait_value("omsgw_active_client_connections", 0)
    closed["prom"].wait_value("omsgw_connected_clients", 0)


# --- admin endpoint behaviour --------------------------------------------------------

@pytest.fixture(scope="module")
def plain_echo():
    e = EchoServer(None, mode="halfclose")
    yield e
    e.stop()


@pytest.fixture
def gw(tmp_path, plain_echo):
    g = Gateway(str(tmp_path / "gw"), base_config(free_port(), allowed_ports=[plain_echo.port],
                                                  limits={"drain_timeout_s": 5}))
    yield g
    assert g.stop() == 0, g.text()


def test_unknown_path_is_404(gw):
    assert admin(gw, "GET", "/nope")[0] == 404
    assert admin(gw, "GET", "/metricsx")[0] == 404


def test_wrong_methods_are_405_with_allow(gw):
    status, headers, _ = admin(gw, "POST", "/metrics", body=b"x")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, _ = admin(gw, "DELETE", "/status")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, _ = admin(gw, "GET", "/reload")
    assert status == 405 and headers["allow"] == "POST"


def test_healthz_and_readyz_are_200_while_serving(gw):
    assert admin(gw, "GET", "/healthz")[0] == 200
    assert admin(gw, "GET", "/readyz")[0] == 200


def http_exchange(sock, request):
    """Sends one request on sock and reads exactly one response: (status, headers, body)."""
    sock.sendall(request)
    f = sock.makefile("rb")
    status_line = f.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, v = line.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    head = request.startswith(b"HEAD ")
    body = b"" if head else f.read(int(headers.get("content-length", "0")))
    f.close()
    return int(status_line.split()[1]), headers, body


def test_keep_alive_serves_several_requests_on_one_connection(gw):
    with socket.create_connection(("127.0.0.1", admin_port(gw)), timeout=10) as s:
        st, h, body = http_exchange(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (st, body) == (200, b"ok\n")
        # HEAD: the GET's headers, Content-Length included, and no body, so the
        # next answer on the connection starts right after the headers.
        st, h, body = http_exchange(s, b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (st, h["content-length"], body) == (200, "3", b"")
        st, h, body = http_exchange(s, b"HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert st == 200 and int(h["content-length"]) > 0
        st, h, body = http_exchange(s, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert st == 200
        parse_prometheus(body.decode())
        st, h, body = http_exchange(s, b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert (st, body) == (200, b"ready\n")
        st, h, body = http_exchange(s, b"GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert st == 404
        # Connection: close is honoured: the answer, then the server closes.
        st, h, body = http_exchange(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert st == 200 and h["connection"] == "close"
        assert read_until_closed(s) == b""


def test_readyz_is_503_while_draining_and_healthz_still_200(gw, plain_echo):
    s, status, head = proxy_connect("127.0.0.1", gw.port, f"allowed.test:{plain_echo.port}")
    assert status == 200, head
    try:
        gw.signal(signal.SIGTERM)
        wait_for("/readyz 503", lambda: admin(gw, "GET", "/readyz")[0] == 503)
        assert admin(gw, "GET", "/healthz")[0] == 200
        assert status_doc(gw)["draining"] is True
        assert scrape(gw).value("omsgw_active_client_connections") == 1

        def refused():
            try:
                socket.create_connection(("127.0.0.1", gw.port), timeout=2).close()
                return False
            except ConnectionRefusedError:
                return True
        wait_for("the listener to stop accepting", refused)
        # The tunnel still relays while draining.
        s.sendall(b"ping")
        assert s.recv(4) == b"ping"
    finally:
        s.close()
    assert gw.proc.wait(WAIT_S) == 0
    gw.wait_event(102)


def test_non_loopback_admin_bind_logs_a_warning(tmp_path):
    # Bound on every address, but only ever spoken to over loopback.
    cfg = base_config(free_port(), admin={"address": "0.0.0.0", "port": free_port()})
    g = Gateway(str(tmp_path / "gw"), cfg)
    try:
        line = g.wait_event(100, "not loopback")
        assert " warn " in line
        assert admin(g, "GET", "/healthz")[0] == 200
    finally:
        assert g.stop() == 0, g.text()


@pytest.mark.parametrize("which", ["admin", "listen"])
def test_a_port_in_use_exits_1_with_event_400_not_a_crash(tmp_path, which):
    # Once a crash (SIGSEGV at exit) when the admin port was taken: the I/O work guard
    # outlived its io_context on that error path.
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        cfg = base_config(port if which == "listen" else free_port(),
                          admin={"address": "127.0.0.1",
                                 "port": port if which == "admin" else free_port()})
        g = Gateway(str(tmp_path / "gw"), cfg, wait=False)
        assert g.proc.wait(30) == 1, g.text()
        assert re.search(rf"event_id=400 .*cannot listen on {'admin ' if which == 'admin' else ''}"
                         rf"127\.0\.0\.1:{port}", g.text()), g.text()
    finally:
        busy.close()


def test_loopback_admin_bind_logs_no_warning(gw):
    gw.wait_event(101)
    assert not [l for l in gw.events(100) if "not loopback" in l]


# --- PerfMon: reloads and write errors -----------------------------------------------

def perfmon_config(port, csv_file, interval_s=1):
    return base_config(port, perfmon={"csv_file": csv_file, "interval_s": interval_s},
                       log={"level": "info"})


def test_perfmon_follows_a_reload_to_a_new_file_and_off(tmp_path):
    a = str(tmp_path / "a.csv")
    b = str(tmp_path / "b.csv")
    port = free_port()
    cfg = perfmon_config(port, a)
    g = Gateway(str(tmp_path / "gw"), cfg)
    try:
        wait_for("rows in a.csv", lambda: len(perfmon_rows(a)) >= 2)
        cfg2 = {**cfg, "perfmon": {"csv_file": b, "interval_s": 1}}
        g.write_config(cfg2)
        g.signal(signal.SIGHUP)
        wait_for("rows in b.csv", lambda: len(perfmon_rows(b)) >= 2)
        rows_a = len(perfmon_rows(a))
        wait_for("more rows in b.csv", lambda: len(perfmon_rows(b)) >= 4)
        assert len(perfmon_rows(a)) == rows_a, "the old log kept growing after the reload"
        assert status_doc(g)["perfmon"] == {"csv_file": b, "interval_s": 1}

        cfg3 = {**cfg, "perfmon": {"csv_file": "", "interval_s": 2}}
        g.write_config(cfg3)
        g.signal(signal.SIGHUP)
        g.wait_event(100, "perfmon: counter log off")
        assert status_doc(g)["perfmon"] == {"csv_file": "", "interval_s": 2}
    finally:
        assert g.stop() == 0, g.text()


def test_perfmon_write_error_is_logged_once_and_recovery_is_logged(tmp_path):
    missing_dir = tmp_path / "not-yet"
    path = str(missing_dir / "omsgw.csv")
    g = Gateway(str(tmp_path / "gw"), perfmon_config(free_port(), path))
    try:
        g.wait_event(400, "perfmon")
        # Let several one-second ticks fail the same way (sleeping only widens the check).
        time.sleep(3.5)
        os.mkdir(missing_dir)
        g.wait_event(100, "counter log is written again")
        errors = [l for l in g.events(400) if "perfmon" in l]
        assert len(errors) == 1, errors
        assert "No such file or directory" in errors[0]
        assert scrape(g).value("omsgw_errors_total") == 1
        wait_for("rows after recovery", lambda: len(perfmon_rows(path)) >= 1)
    finally:
        assert g.stop() == 0, g.text()
