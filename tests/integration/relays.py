"""Real relay proxies for the relay tests, all on loopback and started by the tests:
Squid with any of its authentication helpers, an MIT Kerberos KDC, and stunnel4 as a
TLS front for Squid (an https:// relay)."""
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from gwtest import free_port, stop_process, wait_port

HELPERS = "/usr/lib/squid"


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


class Squid:
    """A real Squid on 127.0.0.1: no cache, CONNECT allowed to the given ports only, its
    own hosts file (no DNS traffic leaves loopback), and `auth` (the auth_param lines)
    in front of every request. env adds to the environment of Squid and its helpers;
    "{dir}" in auth and env values is Squid's directory, where `files` are written."""

    def __init__(self, connect_ports, hosts, auth, env=None, files=None):
        # Squid drops root privileges to cache_effective_user, which must reach its
        # files: a directory of its own under /tmp, owned by that user.
        self.dir = tempfile.mkdtemp(prefix="omsgw-squid-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.access_log = os.path.join(self.dir, "access.log")
        for name, content in (files or {}).items():
            with open(os.path.join(self.dir, name), "w" if isinstance(content, str) else "wb") as f:
                f.write(content)
        hosts_file = os.path.join(self.dir, "hosts")
        with open(hosts_file, "w") as f:
            f.write("".join(f"127.0.0.1 {h}\n" for h in hosts))
        effective = ""
        if os.geteuid() == 0:
            user = "proxy" if _user_exists("proxy") else "nobody"
            effective = f"cache_effective_user {user}\n"
            pw = pwd.getpwnam(user)
            for root, dirs, files_ in os.walk(self.dir):
                for name in [root] + [os.path.join(root, n) for n in dirs + files_]:
                    os.chown(name, pw.pw_uid, pw.pw_gid)
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write(f"""http_port 127.0.0.1:{self.port}
{effective}pid_filename {self.dir}/squid.pid
access_log stdio:{self.access_log}
cache_log {self.dir}/cache.log
cache_store_log none
coredump_dir {self.dir}
cache deny all
cache_mem 4 MB
netdb_filename none
pinger_enable off
logfile_rotate 0
shutdown_lifetime 1 seconds
hosts_file {hosts_file}
dns_nameservers 127.0.0.1
{auth.format(dir=self.dir)}
acl authed proxy_auth REQUIRED
acl SSL_ports port {" ".join(str(p) for p in connect_ports)}
acl CONNECT method CONNECT
http_access deny CONNECT !SSL_ports
http_access allow authed
http_access deny all
""")
        self.out = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen(["squid", "-N", "-f", self.conf], stdout=self.out,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, **{k: v.format(dir=self.dir)
                                                           for k, v in (env or {}).items()}})
        try:
            wait_port("127.0.0.1", self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    def address(self, host="127.0.0.1"):
        return f"http://{host}:{self.port}"

    def log_lines(self):
        try:
            with open(self.access_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_log(self, *needles, timeout=15):
        """Squid logs a tunnel when it ends; waits for a line holding every needle."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log_lines():
                if all(n in line for n in needles):
                    return line
            time.sleep(0.1)
        raise AssertionError(f"no squid access log line with {needles}: {self.log_lines()}")

    def stop(self):
        stop_process(self.proc, 15)
        self.out.close()
        if not os.environ.get("OMSGW_KEEP_RELAYS"):
            shutil.rmtree(self.dir, ignore_errors=True)


REALM = "OMSGW.TEST"


class Kdc:
    """An MIT Kerberos KDC on 127.0.0.1 (TCP and UDP on one free port) with realm
    OMSGW.TEST, made with kdb5_util and kadmin.local in a scratch directory. krb5_conf
    is the client configuration to point KRB5_CONFIG at: in a directory of its own under
    /tmp that Squid's helper (running as Squid's unprivileged user) can read."""

    def __init__(self):
        self.dir = directory = tempfile.mkdtemp(prefix="omsgw-kdc-")
        os.chmod(directory, 0o755)
        self.port = free_port()
        self.krb5_conf = os.path.join(directory, "krb5.conf")
        self.kdc_conf = os.path.join(directory, "kdc.conf")
        with open(self.krb5_conf, "w") as f:
            f.write(f"""[libdefaults]
  default_realm = {REALM}
  dns_lookup_kdc = false
  dns_lookup_realm = false
  rdns = false
  dns_canonicalize_hostname = false
  udp_preference_limit = 1
[realms]
  {REALM} = {{
    kdc = 127.0.0.1:{self.port}
  }}
[domain_realm]
  localhost = {REALM}
""")
        with open(self.kdc_conf, "w") as f:
            f.write(f"""[kdcdefaults]
  kdc_ports = {self.port}
  kdc_tcp_ports = {self.port}
[realms]
  {REALM} = {{
    database_name = {directory}/principal
    key_stash_file = {directory}/stash
    acl_file = {directory}/kadm5.acl
    kdc_ports = {self.port}
    kdc_tcp_ports = {self.port}
  }}
""")
        open(os.path.join(directory, "kadm5.acl"), "w").close()
        self.env = {"KRB5_CONFIG": self.krb5_conf, "KRB5_KDC_PROFILE": self.kdc_conf}
        self._run(["kdb5_util", "create", "-s", "-r", REALM, "-P", "omsgw-test-master"])
        self.log = open(os.path.join(directory, "kdc.log"), "wb")
        self.proc = subprocess.Popen(["krb5kdc", "-n", "-r", REALM], stdout=self.log,
                                     stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        wait_port("127.0.0.1", self.port, timeout=20)

    def _run(self, cmd):
        subprocess.run(cmd, check=True, env={**os.environ, **self.env}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def keytab(self, principal, path):
        """Creates principal (random key) and writes its keys to a 0600 keytab."""
        self._run(["kadmin.local", "-r", REALM, "-q", f"addprinc -randkey {principal}"])
        self._run(["kadmin.local", "-r", REALM, "-q", f"ktadd -k {path} {principal}"])
        os.chmod(path, 0o600)
        return path

    def stop(self):
        stop_process(self.proc, 10)
        self.log.close()
        if not os.environ.get("OMSGW_KEEP_RELAYS"):
            shutil.rmtree(self.dir, ignore_errors=True)


class Stunnel:
    """stunnel4 as an https:// relay: TLS on 127.0.0.1 with cert/key, forwarding in clear
    to Squid's port."""

    def __init__(self, directory, cert, key, target_port):
        os.makedirs(directory, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(directory, "stunnel.conf")
        with open(self.conf, "w") as f:
            f.write(f"""foreground = yes
pid =
debug = 5
[relay]
accept = 127.0.0.1:{self.port}
connect = 127.0.0.1:{target_port}
cert = {cert}
key = {key}
""")
        self.log_path = os.path.join(directory, "stunnel.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["stunnel4", self.conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_port("127.0.0.1", self.port, timeout=20)

    def address(self, host="localhost"):
        return f"https://{host}:{self.port}"

    def accepted(self):
        """How many TLS connections stunnel accepted (its own log)."""
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if "accepted connection from" in line)

    def stop(self):
        stop_process(self.proc, 10)
        self.log.close()



class FakeRelay:
    """A relay peer on 127.0.0.1 for what Squid cannot play: each connection is answered
    by _answer(conn) in a thread of its own and then closed."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        try:
            conn.settimeout(30)
            self._answer(conn)
        except OSError:  # the gateway may stop mid-exchange
            pass
        finally:
            conn.close()

    def _answer(self, conn):
        raise NotImplementedError

    @staticmethod
    def _read_head(conn):
        """The request head from conn (up to its blank line), None if it closes first."""
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                return None
            head += chunk
        return head

    def address(self):
        return f"http://127.0.0.1:{self.port}"

    def relay(self):
        """How omsgw names it (metrics labels, events)."""
        return f"127.0.0.1:{self.port}"

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        except OSError:
            pass
        self.sock.close()


class RefusingRelay(FakeRelay):
    """Answers every CONNECT with `status` (e.g. "403 Forbidden") and closes, as a Squid
    whose http_access denies the destination does. connects counts those answers."""

    def __init__(self, status):
        self.status = status
        self.connects = 0
        super().__init__()

    def _answer(self, conn):
        head = self._read_head(conn)
        if head and head.startswith(b"CONNECT "):
            self.connects += 1
            conn.sendall(f"HTTP/1.1 {self.status}\r\nContent-Length: 0\r\n"
                         "Connection: close\r\n\r\n".encode())


# An NTLM type-2 challenge (ntlm_fake_auth's own, captured) with extended session
# security (flags 0x00088206), to which libcurl answers NTLMv2, and the same challenge
# without it (0x00008206), to which libcurl would answer NTLMv1.
NTLM_V2_CHALLENGE = "TlRMTVNTUAACAAAACQAJAK6qqqoGgggA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA=="
NTLM_V1_CHALLENGE = "TlRMTVNTUAACAAAACQAJAK6qqqoGggAA5OxTTj55X0gAAAAAAAA6AFdPUktHUk9VUA=="


class ChallengingRelay(FakeRelay):
    """A relay that answers every CONNECT with 407 on a kept-alive connection, offering
    the Proxy-Authenticate values challenge(authorization, n) returns: authorization is
    the request's Proxy-Authorization value (None without one), n counts the requests.
    authorizations records every Proxy-Authorization received, in order."""

    def __init__(self, challenge):
        self.challenge = challenge
        self.authorizations = []
        self.requests = 0
        super().__init__()

    def _answer(self, conn):
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            head, buf = buf.split(b"\r\n\r\n", 1)
            auth = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                    if l.lower().startswith(b"proxy-authorization:")]
            self.authorizations.extend(auth)
            self.requests += 1
            offers = self.challenge(auth[0] if auth else None, self.requests)
            lines = "".join(f"Proxy-Authenticate: {o}\r\n" for o in offers)
            conn.sendall(f"HTTP/1.1 407 Proxy Authentication Required\r\n{lines}"
                         "Content-Length: 0\r\n\r\n".encode())


class RawAnswerRelay(FakeRelay):
    """Answers the CONNECT with the octets answer() yields (a hostile or broken relay),
    then closes. connects counts the CONNECTs read."""

    def __init__(self, answer):
        self.answer = answer
        self.connects = 0
        super().__init__()

    def _answer(self, conn):
        if self._read_head(conn) is None:
            return
        self.connects += 1
        for part in self.answer():
            conn.sendall(part)
