"""Shared fixtures for omsgw integration tests: the real binary, real peers.

Everything listens on 127.0.0.1/::1 with ports picked by the kernel; every process a
test starts is stopped by the test (or its fixture) when it ends.
"""
import json
import os
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

BIN = os.environ.get("OMSGW_BIN", "omsgw")
SOURCE_DIR = os.environ.get("OMSGW_SOURCE_DIR",
                            os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port nothing listens on, chosen below the kernel's ephemeral range: a port
    the kernel hands out (bind to 0) can be taken again at once as the source port of
    some other test's outgoing connection (the load tests open thousands), and then a
    gateway that binds it (on 0.0.0.0 especially) fails with EADDRINUSE. The port is
    checked free on the wildcard and on loopback, for TCP."""
    low, _ = _ephemeral_range()
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(max(1024, low - 12000), low)
        wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
        ok = True
        for addr in {host, wildcard}:
            s = socket.socket(family, socket.SOCK_STREAM)
            try:
                s.bind((addr, port))
            except OSError:
                ok = False
            finally:
                s.close()
            if not ok:
                break
        if ok:
            return port
    s = socket.socket(family, socket.SOCK_STREAM)  # fall back to the kernel's choice
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, what, timeout=10):
    """Polls predicate until it holds; fails the test naming what was awaited."""
    deadline = time.time() + timeout
    while not predicate():
        if time.time() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)


def wait_port(host, port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} not listening after {timeout}s")


def yaml_dump(value, indent=0):
    """Minimal YAML writer for test configs (dicts, lists, scalars)."""
    pad = "  " * indent
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:")
                out.append(yaml_dump(v, indent + 1))
            else:
                out.append(f"{pad}{k}: {scalar(v)}")
    elif isinstance(value, list):
        for v in value:
            if isinstance(v, dict):
                first = True
                for k, vv in v.items():
                    prefix = f"{pad}- " if first else f"{pad}  "
                    out.append(f"{prefix}{k}: {scalar(vv)}")
                    first = False
            else:
                out.append(f"{pad}- {scalar(v)}")
    return "\n".join(out)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{}" if not v else json.dumps(v)
    if isinstance(v, list):
        return "[]" if not v else json.dumps(v)
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))


class Certs:
    """A throwaway CA and server/client certificates made with the openssl CLI."""

    def __init__(self, directory, names=("allowed.test", "other.test", "localhost", "v6.test", "a.wild.test")):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = os.path.join(directory, "ca.key")
        self.ca = os.path.join(directory, "ca.pem")
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key,
             "-out", self.ca, "-days", "2", "-subj", "/CN=omsgw test CA"])
        self.server_key, self.server = self.issue("server", "/CN=allowed.test",
                                                  san=",".join("DNS:" + n for n in names) + ",IP:127.0.0.1,IP:::1")

    def issue(self, name, subject, san=None):
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".pem")
        run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
             "-subj", subject])
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n")
            if san:
                f.write(f"subjectAltName={san}\n")
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
             "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
        return key, crt


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL if it has not exited within timeout seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def read_until_closed(sock):
    """Everything the peer sends until it closes (or resets) the connection."""
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


class Nginx:
    """A real nginx serving HTTPS on loopback from a temp prefix."""

    def __init__(self, directory, certs, port=None, body=b"hello from nginx\n",
                 answer_any_method=False):
        """answer_any_method: every request, POST with any body size included, gets a
        small 200 ("ok") instead of the static page (the load generator POSTs)."""
        self.dir = directory
        self.port = port or free_port()
        os.makedirs(os.path.join(directory, "html"), exist_ok=True)
        os.makedirs(os.path.join(directory, "logs"), exist_ok=True)
        with open(os.path.join(directory, "html", "index.html"), "wb") as f:
            f.write(body)
        self.body = body
        conf = os.path.join(directory, "nginx.conf")
        user = "user root root;\n" if os.geteuid() == 0 else ""
        any_method = ('\n    client_max_body_size 0;\n    location / { return 200 "ok"; }'
                      if answer_any_method else "")
        with open(conf, "w") as f:
            f.write(f"""{user}worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {directory}/logs/access.log;
  client_body_temp_path {directory}/tmp_body;
  proxy_temp_path {directory}/tmp_proxy;
  fastcgi_temp_path {directory}/tmp_fcgi;
  uwsgi_temp_path {directory}/tmp_uwsgi;
  scgi_temp_path {directory}/tmp_scgi;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    listen [::1]:{self.port} ssl;
    server_name _;
    ssl_certificate {certs.server};
    ssl_certificate_key {certs.server_key};
    root {directory}/html;{any_method}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-p", directory, "-c", conf, "-g", "daemon off;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_port("127.0.0.1", self.port)

    def stop(self):
        stop_process(self.proc)


class Gateway:
    """The real omsgw binary with a temp config; its stderr is the event log."""

    def __init__(self, directory, config, extra_args=(), wait=True, prefix=(), env=None):
        """prefix: argv run before the binary (e.g. `ip netns exec NS`)."""
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.config_path = os.path.join(directory, "omsgw.yaml")
        self.log_path = os.path.join(directory, "omsgw.log")
        self.config = config
        self.write_config(config)
        self.port = config.get("listen", {}).get("port")
        self.host = config.get("listen", {}).get("address", "127.0.0.1")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*prefix, BIN, "run", "--config", self.config_path, *extra_args],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})
        if wait:
            self.wait_ready()

    def write_config(self, config):
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(yaml_dump(config) + "\n")
        os.replace(tmp, self.config_path)

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"omsgw exited {self.proc.returncode}:\n{self.text()}")
            if "event_id=101" in self.text():
                return
            time.sleep(0.05)
        raise TimeoutError("omsgw did not log event 101:\n" + self.text())

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def events(self, event_id=None):
        lines = [l for l in self.text().splitlines() if "event_id=" in l]
        if event_id is not None:
            lines = [l for l in lines if f"event_id={event_id} " in l]
        return lines

    def wait_event(self, event_id, pattern="", timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.events(event_id):
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no event {event_id} matching {pattern!r} in:\n{self.text()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=40):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def base_config(port, **overrides):
    cfg = {
        "listen": {"address": "127.0.0.1", "port": port},
        "admin": {"address": "127.0.0.1", "port": free_port()},
        "allowed_ports": [443],
        "allowed_hosts": ["allowed.test"],
        "tls": {"inspect": False},
        "upstream": {"resolve": {"allowed.test": "127.0.0.1"}},
        "limits": {"header_timeout_s": 10, "connect_timeout_s": 5},
        "log": {"level": "debug"},
    }
    for k, v in overrides.items():
        if isinstance(v, dict) and isinstance(cfg.get(k), dict):
            cfg[k] = {**cfg[k], **v}
        else:
            cfg[k] = v
    return cfg


def proxy_connect(gw_host, gw_port, target, timeout=10, extra=b""):
    """Opens a CONNECT tunnel; returns (socket, status, head bytes)."""
    fam = socket.AF_INET6 if ":" in gw_host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((gw_host, gw_port))
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + extra)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.") else None
    return s, status, head


def read_head(s, what):
    """Reads an HTTP head from s; returns (head, bytes after it). EOFError names `what`
    when the peer closes first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise EOFError(f"closed before {what} ({buf!r})")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


def open_tunnel(s, target):
    """Asks the proxy on the connected socket s for a tunnel to target; returns the bytes
    that came after the 200 (they belong to the tunnel). Raises unless it answers 200."""
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head, rest = read_head(s, "the CONNECT answer")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"CONNECT answered {head[:40]!r}")
    return rest


def summarize_attempts(name, attempts, node_label=str, width=34):
    """Prints one line for a phase of a failover test (attempts: dicts with ok and node);
    returns (succeeded, failed)."""
    ok = [a for a in attempts if a["ok"]]
    bad = [a for a in attempts if not a["ok"]]
    nodes = {}
    for a in ok:
        nodes[a["node"]] = nodes.get(a["node"], 0) + 1
    per_node = ", ".join(f"{node_label(n)}: {c}"
                         for n, c in sorted(nodes.items(), key=lambda x: str(x[0])))
    print(f"  {name:<{width}} attempts {len(attempts):5}  ok {len(ok):5}  failed {len(bad):3}"
          f"  (successes per node {per_node})")
    return ok, bad


def raw_request(gw_host, gw_port, data, timeout=10):
    """Sends raw bytes, returns everything the gateway answers until it closes."""
    s = socket.create_connection((gw_host, gw_port), timeout=timeout)
    try:
        s.sendall(data)
        return read_until_closed(s)
    finally:
        s.close()


def status_of(response):
    if not response.startswith(b"HTTP/1."):
        return None
    return int(response.split(b" ", 2)[1])


class EchoServer:
    """TLS (or plain) server: reads an 8-byte length then that many bytes, and sends
    them back; or, in plain 'halfclose' mode, echoes until EOF then closes."""

    def __init__(self, certs=None, host="127.0.0.1", mode="length"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        self.ctx = None
        if certs:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(certs.server, certs.server_key)
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(60)
            if self.ctx:
                conn = self.ctx.wrap_socket(conn, server_side=True)
            if self.mode == "length":
                n = int.from_bytes(recv_exact(conn, 8), "big")
                data = recv_exact(conn, n)
                conn.sendall(data)
            else:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    conn.sendall(chunk)
                conn.shutdown(socket.SHUT_WR)
        except Exception:
            pass
        finally:
            try:
                conn.close()
            except Exception:
                pass

    def stop(self):
        self.stopped = True
        self.sock.close()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise EOFError(f"got {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


class FakeDns:
    """UDP DNS server on 127.0.0.1: A records for `answers`, silence for `silent`,
    NXDOMAIN for the rest (AAAA: no data). Counts queries per name."""

    def __init__(self, answers, silent, ttl=60):
        self.answers, self.silent, self.ttl = answers, set(silent), ttl
        self.counts = {}
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def queries(self, name):
        with self.lock:
            return self.counts.get(name, 0)

    def _serve(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(1500)
            except (socket.timeout, OSError):
                continue
            reply = self._reply(data)
            if reply:
                self.sock.sendto(reply, peer)

    def _reply(self, q):
        labels, pos = [], 12
        while pos < len(q) and q[pos]:
            labels.append(q[pos + 1:pos + 1 + q[pos]].decode())
            pos += 1 + q[pos]
        name, end = ".".join(labels), pos + 5
        qtype = struct.unpack(">H", q[pos + 1:pos + 3])[0]
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
        if name in self.silent:
            return None
        known = name in self.answers
        records = [socket.inet_aton(self.answers[name])] if known and qtype == 1 else []
        flags = 0x8400 | (q[2] << 8 & 0x0100) | (0 if known else 3)
        out = q[:2] + struct.pack(">HHHHH", flags, 1, len(records), 0, 0) + q[12:end]
        for rdata in records:
            out += struct.pack(">HHHIH", 0xC00C, 1, 1, self.ttl, 4) + rdata
        return out

    def stop(self):
        self.stopped = True
        self.thread.join()
        self.sock.close()


def on_every_io_thread(open_tunnel, run, held=32):
    """Runs run() while `held` tunnels from open_tunnel() (each returns its socket) stay
    open. net/io_pool::place keeps a new connection on the I/O thread that accepted it
    until that thread holds k_spill_slack (8) more than the least loaded one, so what
    run() opens reaches every thread even if one thread wins every accept: a warm-up that must touch every thread's pools (splice pipes,
    buffers) before a descriptor or memory baseline."""
    sockets = []
    try:
        for _ in range(held):
            sockets.append(open_tunnel())
        return run()
    finally:
        for s in sockets:
            s.close()
